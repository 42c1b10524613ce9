from conftest import Api


async def test_full_cycle(api: Api) -> None:
    user = await api.register()
    response = await api.send(user, {"textMessage": {"text": "hi"}, "phoneNumbers": ["+79990001122"]})
    assert response.status_code == 202, response.text
    assert response.headers["Location"].endswith(response.json()["id"])
