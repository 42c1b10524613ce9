"""The device health object (`system:ping` payload and the local `GET /health`), device protocol §1.11."""

from __future__ import annotations

from typing import Any

ORDER = {"pass": 0, "warn": 1, "fail": 2}


def check(status: str, value: int, unit: str, description: str) -> dict[str, Any]:
    return {"status": status, "observedValue": value, "observedUnit": unit, "description": description}


def health(version: str, failed_last_hour: int, processed_last_hour: int, battery: int = 87,
           charging: bool = True) -> dict[str, Any]:
    failed_status = ("fail" if failed_last_hour and not processed_last_hour
                     else "warn" if failed_last_hour else "pass")
    battery_status = "fail" if battery < 10 else "warn" if battery < 25 else "pass"
    checks = {
        "messages:failed": check(failed_status, failed_last_hour, "messages", "Failed messages for last hour"),
        "connection:status": check("pass", 1, "boolean", "Internet connection status"),
        "connection:transport": check("pass", 1, "flags", "Network transport type"),
        "connection:cellular": check("pass", 0, "index", "Cellular network type"),
        "battery:level": check(battery_status, battery, "percent", "Battery level in percent"),
        "battery:charging": check("pass", 1 if charging else 0, "flags", "Is the phone charging?"),
    }
    status = max((c["status"] for c in checks.values()), key=ORDER.__getitem__)
    major, minor, patch = (version.split(".") + ["0", "0"])[:3]
    release = int(major) * 10000 + int(minor) * 100 + int(patch) if f"{major}{minor}{patch}".isdigit() else 0
    # HealthResponse's fields in Gson's order: the constructor's `version`, `releaseId`, then `status`, `checks`
    return {"version": version, "releaseId": release, "status": status, "checks": checks}
