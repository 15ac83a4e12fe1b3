from conftest import data_files


async def test_upload_get_download_delete(client, auth, settings):
    headers = auth()
    response = await client.post(
        "/api/assets/upload",
        headers=headers,
        files={"file": ("notes.txt", b"hello world\n", "text/plain")},
        data={"tags": "a,b", "folder": "/x/y"},
    )
    assert response.status_code == 201, response.text
    asset = response.json()
    assert response.headers["Location"] == f"/api/assets/{asset['asset_id']}"
    assert asset["metadata"]["tags"] == ["a", "b"]
    got = await client.get(f"/api/assets/{asset['asset_id']}", headers=headers)
    assert got.json()["checksum"] == asset["checksum"]
    ranged = await client.get(
        f"/api/assets/{asset['asset_id']}/download", headers={**headers, "Range": "bytes=0-4"}
    )
    assert ranged.status_code == 206
    assert ranged.content == b"hello"
    deleted = await client.delete(f"/api/assets/{asset['asset_id']}", headers=headers)
    assert deleted.status_code == 204
    gone = await client.get(f"/api/assets/{asset['asset_id']}", headers=headers)
    assert gone.status_code == 404
    assert gone.headers["content-type"] == "application/problem+json"
    assert not [f for f in data_files(settings) if f.startswith("temp-uploads")]
