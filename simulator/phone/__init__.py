"""One simulated Android gateway phone (the SMS Gateway app in cloud/private-server mode).

Public surface (the fleet, the driver and the conformance suite use only these names):
    PhoneConfig, RadioConfig, Latency, Registration, PhoneObserver, Phone, FcmEndpoint, encrypt_text,
    shared_client (an httpx client sized for N phones)
"""

from .api import shared_client
from .config import Latency, PhoneConfig, RadioConfig, Registration
from .crypto import encrypt_text
from .fcm_endpoint import FcmEndpoint
from .observer import PhoneObserver
from .phone import Phone

__all__ = ["PhoneConfig", "RadioConfig", "Latency", "Registration", "PhoneObserver", "Phone", "FcmEndpoint",
           "encrypt_text", "shared_client"]
