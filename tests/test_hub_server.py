"""The loopback Hub-compatible test server itself: protocol behaviour seen by the real huggingface_hub client."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from hub_server import HubServer, hub, last_json, run_client  # noqa: F401  (hub is a fixture)

pytestmark = pytest.mark.hub


def test_unknown_requests_are_answered_501_and_recorded():
    server = HubServer().start()  # a private instance: this test provokes unknown requests on purpose
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{server.url}/api/spaces/tester/x/runtime", timeout=10)
        assert err.value.code == 501
        assert "unknown endpoint" in json.loads(err.value.read())["error"]
        assert server.unknown_requests == ["GET /api/spaces/tester/x/runtime"]
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{server.url}/api/models/tester/none", timeout=10)
        assert err.value.code == 404 and err.value.headers["X-Error-Code"] == "RepoNotFound"
        assert len(server.unknown_requests) == 1  # a known endpoint answering 404 is not "unknown"
    finally:
        server.stop()


def test_upload_listing_and_download_through_huggingface_hub(hub, tmp_path):
    code = r'''
import json, os, sys, tempfile
from huggingface_hub import HfApi, hf_hub_download, get_hf_file_metadata, hf_hub_url
api = HfApi()
d = tempfile.mkdtemp()
os.makedirs(f"{d}/sub/deeper")
open(f"{d}/a.txt", "w").write("hello")
open(f"{d}/sub/deeper/w.safetensors", "wb").write(bytes(range(256)) * 40)
open(f"{d}/sub/b.json", "w").write("{}")
api.create_repo("tester/proto")
api.upload_folder(folder_path=d, repo_id="tester/proto", commit_message="first")
first = api.repo_info("tester/proto").sha
open(f"{d}/a.txt", "w").write("changed")
api.upload_folder(folder_path=d, repo_id="tester/proto", commit_message="second")  # unchanged files skipped
api.delete_file("sub/b.json", repo_id="tester/proto")
info = api.repo_info("tester/proto")
tree = {f.path: f for f in api.list_repo_tree("tester/proto", recursive=True)}
paths = {f.path: type(f).__name__ for f in api.get_paths_info("tester/proto", ["a.txt", "sub", "missing"])}
refs = api.list_repo_refs("tester/proto")
meta = get_hf_file_metadata(hf_hub_url("tester/proto", "sub/deeper/w.safetensors"))
old = open(hf_hub_download("tester/proto", "a.txt", revision=first)).read()
new = open(hf_hub_download("tester/proto", "a.txt")).read()
blob = open(hf_hub_download("tester/proto", "sub/deeper/w.safetensors"), "rb").read()
try:
    hf_hub_download("tester/proto", "nope.txt")
    missing = "no error"
except Exception as err:
    missing = type(err).__name__
try:
    api.create_repo("tester/proto")
    again = "no error"
except Exception as err:
    again = type(err).__name__
api.create_repo("tester/proto", exist_ok=True)
print("RESULT=" + json.dumps({
    "siblings": sorted(s.rfilename for s in info.siblings), "commits": len(api.list_repo_commits("tester/proto")),
    "tree": sorted(tree), "lfs": tree["sub/deeper/w.safetensors"].lfs is not None, "lfs_text": tree["a.txt"].lfs is not None,
    "paths": paths, "branches": [b.name for b in refs.branches], "head": refs.branches[0].target_commit == info.sha,
    "etag_is_sha256": meta.etag == tree["sub/deeper/w.safetensors"].lfs.sha256, "size": meta.size,
    "old": old, "new": new, "blob_ok": blob == bytes(range(256)) * 40, "missing": missing, "again": again,
    "user": api.whoami()["name"]}))
'''
    out = last_json(run_client(code, hub.client_env(tmp_path / "home")))
    assert out["siblings"] == [".gitattributes", "a.txt", "sub/deeper/w.safetensors"]
    assert out["tree"] == [".gitattributes", "a.txt", "sub", "sub/deeper", "sub/deeper/w.safetensors"]
    assert out["commits"] == 4  # initial + two uploads + delete
    assert out["lfs"] and not out["lfs_text"] and out["etag_is_sha256"] and out["size"] == 10240
    assert out["paths"] == {"a.txt": "RepoFile", "sub": "RepoFolder"}
    assert out["branches"] == ["main"] and out["head"]
    assert (out["old"], out["new"], out["blob_ok"]) == ("hello", "changed", True)
    assert out["missing"] == "RemoteEntryNotFoundError" and out["again"] == "HfHubHTTPError"
    assert out["user"] == "tester"
