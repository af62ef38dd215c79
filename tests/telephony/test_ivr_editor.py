"""The IVR editor: the tree and its problems named by node, node forms with text or uploaded audio (checked by
content and size), loops that never wait refused, deleting with a confirmation, numbers only for sound menus."""

from __future__ import annotations

import io
import shutil
import wave

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from guanxi.core.context import workspace_context
from guanxi.core.errors import Conflict, ValidationFailed
from guanxi.telephony import ivr, prompts
from guanxi.telephony.models import IvrMenu, IvrNode, PhoneNumber

from .support import NUMBER, TOKEN, tel_objects

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _token(settings, tmp_path):
    settings.GUANXI_TELEPHONY_TOKEN = TOKEN
    settings.DATA_DIR = tmp_path


def _wav(seconds: float = 0.2) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x01" * int(8000 * seconds))
    return buf.getvalue()


def test_problems_name_the_node(world):
    objs = tel_objects(world)
    menu = objs["tel_menu"]
    with workspace_context(world.ws_a):
        assert ivr.menu_problems(menu) == []
        node = IvrNode.objects.get(menu=menu, key="root")
        node.choices = {**node.choices, "3": "nowhere"}
        node.save()
        IvrNode.objects.create(menu=menu, key="closedcheck", kind="hours", next="sales")
        problems = {(p.node, p.message) for p in ivr.menu_problems(menu)}
    assert ("root", "3 goes to nowhere, which does not exist.") in problems
    assert ("closedcheck", "An hours branch needs both an open and a closed way.") in problems


def test_a_loop_that_never_waits_is_refused_naming_the_nodes(world):
    objs = tel_objects(world)
    menu = objs["tel_menu"]
    with workspace_context(world.ws_a):
        ivr.node_save(actor=world.olivia, menu_id=menu.pk, data={"key": "a", "kind": "message", "prompt": "A",
                                                                  "next": "b"})  # fmt: skip
        ivr.node_save(actor=world.olivia, menu_id=menu.pk, data={"key": "b", "kind": "hours", "next": "c",
                                                                  "closed_next": "bye"})  # fmt: skip
        with pytest.raises(ValidationFailed) as exc:
            ivr.node_save(actor=world.olivia, menu_id=menu.pk, data={"key": "c", "kind": "message", "prompt": "C",
                                                                      "next": "a"})  # fmt: skip
        assert "a → b → c → a" in exc.value.fields["next"]
        assert not IvrNode.objects.filter(menu=menu, key="c").exists()
        # a loop back through a menu (which waits for digits) is fine
        ivr.node_save(actor=world.olivia, menu_id=menu.pk, data={"key": "c", "kind": "message", "prompt": "C",
                                                                  "next": "root"})  # fmt: skip
        assert not [p for p in ivr.menu_problems(menu) if "loops" in p.message]


def test_audio_must_be_wav_or_mp3_by_content_and_size(world):
    with pytest.raises(ValidationFailed) as exc:
        ivr.audio_check(b"<html>not audio</html>", "prompt.wav")
    assert "audio" in exc.value.fields
    with pytest.raises(ValidationFailed):
        ivr.audio_check(b"", "x.wav")
    with pytest.raises(ValidationFailed) as exc:
        ivr.audio_check(b"RIFF" + b"\0" * 4 + b"WAVE" + b"\0" * (ivr.AUDIO_MAX_BYTES), "big.wav")
    assert "MB" in exc.value.fields["audio"]
    ivr.audio_check(_wav(), "renamed.mp3")  # the content decides, not the name
    ivr.audio_check(b"ID3\x04\x00" + b"\0" * 100, "x.mp3")


def test_the_editor_pages(world):
    objs = tel_objects(world)
    menu = objs["tel_menu"]
    c = world.client_for(world.olivia)
    page = c.get(f"/telephony/ivr/{menu.pk}/")
    body = page.content.decode()
    assert page.status_code == 200 and 'id="node-root"' in body and 'id="node-sales"' in body
    # a node with a dangling target: saved, and the problem shown naming it
    r = c.post(f"/telephony/ivr/{menu.pk}/", {"key": "promo", "kind": "menu", "prompt": "Press 1.",
                                              "choices": "1=later"})  # fmt: skip
    assert r.status_code == 302
    page = c.get(f"/telephony/ivr/{menu.pk}/")
    assert "promo" in page.content.decode() and any(p.node == "promo" for p in page.context["problems"])
    # bad input names the field and changes nothing
    r = c.post(f"/telephony/ivr/{menu.pk}/", {"key": "Bad Key!", "kind": "menu", "choices": "1"})
    assert r.status_code == 422 and {"choices"} <= set(r.context["errors"])
    r = c.post(f"/telephony/ivr/{menu.pk}/", {"key": "hrs", "kind": "hours", "hours": "Monday 9-6"})
    assert r.status_code == 422 and "hours" in r.context["errors"]
    r = c.post(f"/telephony/ivr/{menu.pk}/", {"key": "up", "kind": "message", "next": "bye",
                                              "audio": SimpleUploadedFile("a.wav", b"not a wav at all")})  # fmt: skip
    assert r.status_code == 422 and "WAV or MP3" in r.context["errors"]["audio"]
    with workspace_context(world.ws_a):
        assert not IvrNode.objects.filter(menu=menu, key__in=["hrs", "up"]).exists()
    # hours by weekday lines
    r = c.post(f"/telephony/ivr/{menu.pk}/", {"key": "hrs", "kind": "hours", "hours": "1-5 09:00-18:00\n6 10:00-12:00",
                                              "next": "root", "closed_next": "vm", "holidays": "2026-10-01"})  # fmt: skip
    assert r.status_code == 302
    with workspace_context(world.ws_a):
        hrs = IvrNode.objects.get(menu=menu, key="hrs")
    assert hrs.hours["1"] == [["09:00", "18:00"]] and hrs.hours["6"] == [["10:00", "12:00"]]
    assert hrs.holidays == ["2026-10-01"]
    edit = c.get(f"/telephony/ivr/{menu.pk}/", {"node": "hrs"})
    assert (
        edit.context["values"]["hours"]
        == "1 09:00-18:00\n2 09:00-18:00\n3 09:00-18:00\n4 09:00-18:00\n5 09:00-18:00\n6 10:00-12:00"
    )
    # agents (not supervisors) may not edit
    assert world.client_for(world.sam).get(f"/telephony/ivr/{menu.pk}/").status_code == 403
    assert world.client_for(world.sam).get("/telephony/ivr/").status_code == 403


@pytest.mark.skipif(not shutil.which("sox"), reason="needs sox (Debian sox) to convert uploaded prompts")
def test_an_uploaded_wav_becomes_the_prompt(world):
    objs = tel_objects(world)
    menu = objs["tel_menu"]
    c = world.client_for(world.olivia)
    r = c.post(f"/telephony/ivr/{menu.pk}/", {"key": "bye", "kind": "hangup",
                                              "audio": SimpleUploadedFile("bye.wav", _wav())})  # fmt: skip
    assert r.status_code == 302, r.context and r.context["errors"]
    with workspace_context(world.ws_a):
        node = IvrNode.objects.get(menu=menu, key="bye")
    assert node.audio and prompts.sha256_of(prompts.resolve(node.audio)) == node.audio_sha256


def test_delete_asks_first_names_who_points_there_and_numbers_wait_for_a_sound_menu(world):
    objs = tel_objects(world)
    menu = objs["tel_menu"]
    c = world.client_for(world.olivia)
    confirm = c.get(f"/telephony/ivr/{menu.pk}/nodes/orders/delete/")
    assert confirm.status_code == 200 and "root" in confirm.context["body"]
    with workspace_context(world.ws_a):
        assert IvrNode.objects.filter(menu=menu, key="orders").exists()  # nothing deleted by looking
    r = c.post(f"/telephony/ivr/{menu.pk}/nodes/orders/delete/", follow=True)
    assert "root" in r.content.decode()
    with workspace_context(world.ws_a):
        assert not IvrNode.objects.filter(menu=menu, key="orders").exists()
        with pytest.raises(Conflict) as exc:
            ivr.number_assign(actor=world.olivia, menu_id=menu.pk, number="+861087654321")
        assert "root" in exc.value.message
        assert not PhoneNumber.objects.filter(number="+861087654321").exists()
        ivr.node_save(actor=world.olivia, menu_id=menu.pk, data={"key": "orders", "kind": "order_status",
                                                                  "next": "bye"})  # fmt: skip
        ivr.number_assign(actor=world.olivia, menu_id=menu.pk, number="+861087654321")
        assert PhoneNumber.objects.get(number="+861087654321").menu_id == menu.pk
        assert PhoneNumber.objects.get(number=NUMBER).menu_id == menu.pk


def test_new_menu_from_the_list_page(world):
    tel_objects(world)
    c = world.client_for(world.olivia)
    r = c.post("/telephony/ivr/", {"name": ""})
    assert r.status_code == 422
    r = c.post("/telephony/ivr/", {"name": "夜间菜单"})
    assert r.status_code == 302
    with workspace_context(world.ws_a):
        menu = IvrMenu.objects.get(name="夜间菜单")
    page = c.get("/telephony/ivr/")
    assert "夜间菜单" in page.content.decode()
    assert any(
        p.message == "The menu has no first node."
        for p in c.get(f"/telephony/ivr/{menu.pk}/").context["problems"]
    )


@pytest.mark.skipif(
    not prompts.tts_available(), reason="needs espeak-ng and sox (Debian) to speak text prompts"
)
def test_hear_a_nodes_prompt_in_the_editor(world):
    objs = tel_objects(world)
    menu = objs["tel_menu"]
    c = world.client_for(world.olivia)
    edit = c.get(f"/telephony/ivr/{menu.pk}/", {"node": "root"})
    url = f"/telephony/ivr/{menu.pk}/nodes/root/audio/"
    assert url in edit.content.decode()
    r = c.get(url, HTTP_RANGE="bytes=0-11")
    assert r.status_code == 206 and b"".join(r.streaming_content)[:4] == b"RIFF"
    assert c.get(f"/telephony/ivr/{menu.pk}/nodes/orders/audio/").status_code == 404  # no prompt there
    assert world.client_for(world.sam).get(url).status_code == 403
    assert world.client_for(world.oscar).get(url).status_code in (403, 404)
