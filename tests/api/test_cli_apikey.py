"""`guanxi apikey create|list|revoke`: the key is printed once and works against the API."""

from __future__ import annotations

import json

from guanxi.cli import main
from guanxi.workspaces.models import ApiKey, Membership
from tests.api.support import Api, assert_error


def _run(capsys, *argv):
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_it_creates_a_key_that_works_against_the_api(world, capsys):
    rc, out, _err = _run(
        capsys,
        "apikey",
        "create",
        "--workspace",
        world.ws_a.slug,
        "--user",
        "sam",
        "--scope",
        "read",
        "--json",
    )
    assert rc == 0
    data = json.loads(out)
    assert set(data) == {"id", "key", "prefix", "scopes", "workspace"}
    assert data["scopes"] == ["read"] and data["workspace"] == world.ws_a.slug
    me = Api(data["key"]).get("/me")
    assert me.status_code == 200 and me.json()["user"]["username"] == "sam"
    assert_error(Api(data["key"]).post("/customers", {"name": "x"}), 403, "insufficient_scope")


def test_it_accepts_the_workspace_id_and_prints_the_bare_key(world, capsys):
    rc, out, err = _run(capsys, "apikey", "create", "--workspace", str(world.ws_b.pk), "--user", "oscar")
    assert rc == 0
    key = out.strip()
    assert key.startswith("gx_") and "not shown again" in err
    assert Api(key).get("/workspace").json()["id"] == world.ws_b.pk
    assert ApiKey.all_workspaces.get(prefix=key.split("_")[1]).scopes == ["read", "write"]


def test_it_refuses_an_unknown_workspace(world, capsys):
    rc, out, _err = _run(capsys, "apikey", "create", "--workspace", "nope", "--user", "sam", "--json")
    assert rc == 1
    assert json.loads(out)["code"] == "not_found"
    assert "nope" in json.loads(out)["message"]
    assert not ApiKey.all_workspaces.exists()


def test_it_refuses_a_user_who_is_not_a_member(world, capsys):
    rc, _out, err = _run(capsys, "apikey", "create", "--workspace", world.ws_b.slug, "--user", "sam")
    assert rc == 1
    assert "not a member" in err
    rc, _out, err = _run(capsys, "apikey", "create", "--workspace", world.ws_a.slug, "--user", "ghost")
    assert rc == 1 and "ghost" in err
    Membership.all_workspaces.filter(pk=world.rita.pk).update(is_active=False)
    rc, _out, err = _run(capsys, "apikey", "create", "--workspace", world.ws_a.slug, "--user", "rita")
    assert rc == 1 and "no longer active" in err
    assert not ApiKey.all_workspaces.exists()


def test_it_refuses_a_bad_name(world, capsys):
    rc, out, _err = _run(
        capsys, "apikey", "create", "--workspace", world.ws_a.slug, "--user", "sam", "--name", " ", "--json"
    )
    assert rc == 1
    assert json.loads(out)["fields"][0]["field"] == "name"


def test_list_and_revoke(world, capsys):
    _rc, out, _err = _run(
        capsys, "apikey", "create", "--workspace", world.ws_a.slug, "--user", "sam", "--json"
    )
    created = json.loads(out)
    rc, out, _err = _run(capsys, "apikey", "list", "--workspace", world.ws_a.slug, "--user", "sam", "--json")
    assert rc == 0
    listed = json.loads(out)["keys"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert created["key"] not in out
    rc, _out, _err = _run(
        capsys, "apikey", "revoke", "--workspace", world.ws_a.slug, "--user", "sam", str(created["id"])
    )
    assert rc == 0
    assert_error(Api(created["key"]).get("/me"), 401, "revoked_api_key")
    # sue may not revoke sam's key: it looks missing
    rc, _out, err = _run(
        capsys, "apikey", "revoke", "--workspace", world.ws_a.slug, "--user", "sue", str(created["id"])
    )
    assert rc == 1
