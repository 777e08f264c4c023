"""Tests of the generated Python bindings (uniffi) against the release library and a real
duet-relay. Run through ../scripts/test.sh, which generates ../../bindings-out/python first."""

import asyncio
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, os.environ.get("DUET_BINDINGS_PY", str(ROOT / "bindings-out" / "python")))

import duet_mobile as duet  # noqa: E402
from duet_mobile import DuetClient, DuetListener, TextEdit, TransferListener  # noqa: E402
# duet-core's records, enums and DuetError: the generated `duet_core` module.
from duet_core import (  # noqa: E402
    AppState,
    AttachOptions,
    AttachmentState,
    CheckIn,
    DuetError,
    EntryEventKind,
    EntryFilter,
    EntryKind,
    NewEntry,
    Origin,
    SpaceKind,
    SyncState,
    TextField,
)


def tmp(name):
    return tempfile.mkdtemp(prefix=f"duet-{name}-")


@pytest.fixture(scope="module")
def relay():
    """A real duet-relay on 127.0.0.1, port 0, in a temporary data dir."""
    binary = os.environ.get("DUET_RELAY_BIN")
    if not binary:
        for c in ("target/debug/duet-relay", "target/release/duet-relay"):
            if os.access(ROOT / c, os.X_OK):
                binary = str(ROOT / c)
                break
    assert binary, "duet-relay not built; run mobile-bindings/scripts/test.sh"
    p = subprocess.Popen(
        [binary, "--listen", "127.0.0.1:0", "--data-dir", tmp("relay")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    prefix = "duet-relay listening on "
    url = None
    for line in p.stdout:
        if line.startswith(prefix):
            url = line[len(prefix):].strip()
            break
    assert url, "duet-relay exited before listening"
    yield url
    p.terminate()
    p.wait(timeout=10)


class Recorder(DuetListener):
    def __init__(self):
        self.events = []
        self.states = []
        self.cond = threading.Condition()

    def on_entry_event(self, event):
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def on_sync_state(self, state):
        with self.cond:
            self.states.append(state)
            self.cond.notify_all()

    def wait(self, pred, timeout=15):
        with self.cond:
            return self.cond.wait_for(pred, timeout)


class Throwing(DuetListener):
    def on_entry_event(self, event):
        raise RuntimeError("listener bug")

    def on_sync_state(self, state):
        raise RuntimeError("listener bug")


def run(coro):
    return asyncio.run(coro)


def test_one_device_journal():
    d = tmp("ada")
    ada = DuetClient.init(d, "Ada")
    assert ada.data_dir() == d
    me = ada.identity()
    assert me.name == "Ada"
    assert ada.relay_info() is None
    j = ada.create_journal("Us")
    ada.rename_journal(j, "Us two")
    ada.set_checkin_cadence(j, 14)
    assert ada.get_journal(j).title == "Us two"
    assert ada.get_journal(j).checkin_cadence_days == 14
    kinds = {x.kind for x in ada.list_journals()}
    assert kinds == {SpaceKind.JOURNAL, SpaceKind.PERSONAL}

    e = ada.create_entry(j, NewEntry(kind=EntryKind.REFLECTION, title="Sunday", body="We walked."))
    # Python str indices are code points, exactly what splice expects.
    title = "🌅 Sunday"
    ada.set_text(e, TextField.TITLE, title)
    ada.splice(e, TextField.TITLE, title.index(" "), 0, "!")
    assert ada.get_entry(e).title == "🌅! Sunday"
    ada.splice(e, TextField.BODY, len("We walked"), 0, " by the river")
    assert ada.get_entry(e).body == "We walked by the river."
    with pytest.raises(DuetError.InvalidInput):
        ada.splice(e, TextField.BODY, 1000, 1, "")
    # A buffered burst of typing as one durable write; all or nothing.
    ada.splice_many(e, TextField.BODY, [
        TextEdit(position=len("We walked by the river"), delete_count=0, insert=", slowly"),
        TextEdit(position=0, delete_count=2, insert="Ada and Ben"),
    ])
    assert ada.get_entry(e).body == "Ada and Ben walked by the river, slowly."
    with pytest.raises(DuetError.InvalidInput):
        ada.splice_many(e, TextField.BODY, [
            TextEdit(position=0, delete_count=0, insert="x"),
            TextEdit(position=10_000, delete_count=0, insert="y"),
        ])
    assert ada.get_entry(e).body == "Ada and Ben walked by the river, slowly."
    ada.set_tags(e, ["river"])
    ada.react(e, "❤️")
    ada.unreact(e)
    r = ada.reply(e, "Lovely")
    ada.edit_reply(e, r, "Lovely day")
    ada.delete_reply(e, r)
    ada.restore_reply(e, r)
    full = ada.get_entry(e)
    assert full.tags == ["river"] and full.reactions == [] and full.replies[0].body == "Lovely day"

    c = ada.check_in(j, CheckIn(mood=2, closeness=3, needs="sleep"))
    ada.set_check_in_scores(c, closeness=4)
    assert ada.get_entry(c).check_in.closeness == 4
    assert ada.trends(j).members[0].weeks[0].check_ins == 1
    assert ada.prompt_of_the_day(j).practice_label
    assert ada.history(e)[0].changes >= 1
    assert ada.conflicts(e) == []

    page = ada.list_entries(EntryFilter(journal_id=j, limit=1))
    assert len(page.items) == 1 and page.next_cursor
    rest = ada.list_entries(EntryFilter(journal_id=j, cursor=page.next_cursor))
    assert len(rest.items) == 1 and rest.next_cursor is None
    hits = ada.search("river", journal_id=j)
    assert hits[0].entry.id == e and "[" in hits[0].snippet

    ada.delete_entry(e)
    assert [x.id for x in ada.list_entries(EntryFilter(trash=True)).items] == [e]
    ada.restore_entry(e)

    draft = ada.create_entry(me.personal_space_id, NewEntry(kind=EntryKind.VULNERABILITY, body="scared"))
    shared = ada.share_draft(draft, j)
    with pytest.raises(DuetError.NotAllowed):
        ada.share_draft(draft, j)
    assert ada.get_entry(shared).body == "scared"

    bundle = ada.export_bundle(j)
    assert isinstance(bundle, bytes)
    ben = DuetClient.init(tmp("ben"), "Ben")
    rep = ben.import_bundle(bundle)
    assert rep.new_journal and rep.entries_added == 3
    assert "river" in ada.export_markdown(j) and "river" in ada.export_json(j)
    assert ada.outbox_len() > 0 and ada.quarantined() == []
    del ada
    assert DuetClient.open(d).identity() == me


def test_errors_are_typed():
    with pytest.raises(DuetError.NotInitialized):
        DuetClient.open(tmp("none"))
    d = tmp("a")
    ada = DuetClient.init(d, "Ada")
    with pytest.raises(DuetError.AlreadyInitialized):
        DuetClient.init(d, "Ada")
    with pytest.raises(DuetError.InvalidInput):
        ada.get_entry("nope")
    with pytest.raises(DuetError.NotFound):
        ada.get_journal("01890000-0000-7000-8000-000000000000")
    with pytest.raises(DuetError.CorruptData):
        ada.import_bundle(b"DUETBNDLxx")
    with pytest.raises(DuetError.NoRelay):
        run(ada.sync_now())
    with pytest.raises(DuetError.InvalidInput):
        ada.set_relay("not a url")
    ada.set_relay("http://127.0.0.1:9")
    with pytest.raises(DuetError.Offline):
        run(ada.sync_now())
    with pytest.raises(DuetError.Internal):
        duet.debug_panic()
    with pytest.raises(DuetError.Internal):
        run(duet.debug_panic_async())
    # A listener that raises never breaks a write.
    sub = ada.subscribe(Throwing())
    ada.create_journal("still fine")
    sub.cancel()


def test_two_partners_through_a_relay(relay):
    ada = DuetClient.init(tmp("ada"), "Ada", relay)
    ben = DuetClient.init(tmp("ben"), "Ben")
    j = ada.create_journal("Us")
    invite = run(ada.create_invite(j, ttl_secs=3600))
    assert invite.journal_id == j and invite.expires_at > time.time()
    ben.set_relay(relay)
    assert run(ben.join(invite.code)) == j
    with pytest.raises(DuetError.InviteRejected):
        run(ben.join(invite.code))  # one use

    heard = Recorder()
    sub = ben.subscribe(heard)
    assert sub.is_active()

    # Offline writes on both sides, then sync.
    a1 = ada.create_entry(j, NewEntry(kind=EntryKind.CHECK_IN, check_in=CheckIn(mood=3, closeness=3)))
    b1 = ben.create_entry(j, NewEntry(kind=EntryKind.REFLECTION, body="Hello from Ben"))
    run(ada.sync_now())
    run(ben.sync_now())
    run(ada.sync_now())
    assert ada.get_entry(b1).body == "Hello from Ben"
    assert any(ev.entry_id == a1 and ev.origin == Origin.REMOTE for ev in heard.events)
    assert any(s.is_SYNCED() for s in heard.states)

    # Both change the mood at once: it converges, and the conflict is reported.
    ada.set_check_in_scores(a1, mood=5)
    ben.set_check_in_scores(a1, mood=1)
    for c in (ada, ben, ada):
        run(c.sync_now())
    assert ada.get_entry(a1).check_in.mood == ben.get_entry(a1).check_in.mood
    conflicts = ada.conflicts(a1)
    assert conflicts and conflicts[0].field == "mood"
    assert sorted(v.value_json for v in conflicts[0].values) == ["1", "5"]
    assert sum(v.winner for v in conflicts[0].values) == 1

    # Live: Ada's entry reaches Ben by itself.
    ben.start_live()
    ada.start_live()
    assert heard.wait(lambda: any(s.is_LIVE() for s in heard.states))
    live = ada.create_entry(j, NewEntry(kind=EntryKind.APPRECIATION, body="Thank you"))
    assert heard.wait(lambda: any(ev.entry_id == live and ev.kind == EntryEventKind.ADDED for ev in heard.events))
    ada.stop_live()
    ben.stop_live()
    assert not ben.is_live()

    sub.cancel()
    n = len(heard.events)
    ben.create_entry(j, NewEntry(kind=EntryKind.REFLECTION, body="quiet"))
    assert len(heard.events) == n

    # A second device of Ada's, by link code (the URI carries the relay).
    link = run(ada.link_device())
    phone = run(DuetClient.join_device(tmp("phone"), link.uri))
    assert phone.identity().member_id == ada.identity().member_id
    assert phone.get_entry(b1).body == "Hello from Ben"
    assert phone.relay_info().device_id

    # Ada's devices, her phone first on the phone; a snapshot for faster joins.
    run(ada.sync_now())
    devices = phone.devices()
    assert devices[0] == phone.relay_info().device_id
    assert ada.relay_info().device_id in devices
    assert run(ada.upload_snapshot(j)) >= 1
    with pytest.raises(DuetError.InvalidInput):
        run(ada.revoke_device("not-a-device"))
    # The phone is lost: revoked, its token stops working.
    run(ada.revoke_device(devices[0]))
    with pytest.raises(DuetError.RelayRefused):
        run(phone.sync_now())
    # Every key the phone held was replaced; Ben takes the new one and reads on.
    assert ada.get_journal(j).key_epoch == 2
    kept = ada.create_entry(j, NewEntry(kind=EntryKind.REFLECTION, body="after the phone"))
    run(ada.sync_now())
    run(ben.sync_now())
    assert ben.get_entry(kept).body == "after the phone"
    assert ben.get_journal(j).key_epoch == 2

    # Ada removes Ben: what she writes next never reaches him.
    with pytest.raises(DuetError.NotAllowed):
        run(ada.remove_member(j, ada.identity().member_id))
    run(ada.remove_member(j, ben.identity().member_id))
    after = ada.create_entry(j, NewEntry(kind=EntryKind.REFLECTION, body="after Ben left"))
    run(ada.sync_now())
    run(ben.sync_now())  # Ben's own syncing goes on
    with pytest.raises(DuetError.NotFound):
        ben.get_entry(after)


def couple(relay, tag):
    """Ada and Ben on the relay, sharing a journal "Us" (Ben joined by Ada's invite)."""
    ada = DuetClient.init(tmp(f"ada-{tag}"), "Ada", relay)
    ben = DuetClient.init(tmp(f"ben-{tag}"), "Ben", relay)
    j = ada.create_journal("Us")
    assert run(ben.join(run(ada.create_invite(j)).code)) == j
    return ada, ben, j


def test_a_partner_brings_back_one_who_lost_every_device(relay):
    ada, ben, j = couple(relay, "restore")
    old = ada.create_entry(j, NewEntry(kind=EntryKind.REFLECTION, body="from before"))
    run(ada.sync_now())
    run(ben.sync_now())

    # Every device of Ada's is gone; Ben makes her a restore code.
    code = run(ben.restore_member(j, ada.identity().member_id))
    assert ben.get_journal(j).key_epoch == 2
    again = DuetClient.init(tmp("ada-again"), "Ada", relay)
    assert run(again.join(code.code)) == j
    assert again.identity().member_id == ada.identity().member_id
    assert again.get_entry(old).body == "from before"
    back = again.create_entry(j, NewEntry(kind=EntryKind.REFLECTION, body="I'm back"))
    run(again.sync_now())
    run(ben.sync_now())
    assert ben.get_entry(back).author_id == ada.identity().member_id
    # Her old device is out of the journal: it reads nothing written since.
    run(ada.sync_now())
    with pytest.raises(DuetError.NotFound):
        ada.get_entry(back)


def test_a_recovery_kit_brings_back_one_who_lost_every_device(relay):
    ada, ben, j = couple(relay, "recover")
    me = ada.identity()
    draft = ada.create_entry(me.personal_space_id, NewEntry(kind=EntryKind.VULNERABILITY, body="only mine"))
    run(ada.sync_now())
    kit = run(ada.recovery_kit())
    assert kit.created and len(kit.words.split()) == 24
    again = run(ada.recovery_kit())
    assert not again.created and again.words == kit.words

    # Every device of Ada's is gone; wrong words leave nothing behind.
    d = os.path.join(tmp("ada-recovered"), "home")
    with pytest.raises(DuetError.WrongWords):
        run(DuetClient.recover(d, "abandon " * 23 + "art", relay))
    assert not os.path.exists(d)
    back = run(DuetClient.recover(d, kit.words, relay))
    assert back.identity().member_id == me.member_id
    assert back.get_entry(draft).body == "only mine"
    assert back.get_journal(j).title == "Us"
    assert len(back.devices()) == 2  # this one, then the lost one to revoke
    nxt = back.create_entry(j, NewEntry(kind=EntryKind.REFLECTION, body="back"))
    run(back.sync_now())
    run(ben.sync_now())
    assert ben.get_entry(nxt).author_id == me.member_id


class Progress(TransferListener):
    def __init__(self):
        self.seen = []

    def on_progress(self, progress):
        self.seen.append(progress)


def test_attachments_sealed_synced_fetched_and_removed(relay):
    ada, ben, j = couple(relay, "attach")
    e = ada.create_entry(j, NewEntry(kind=EntryKind.REFLECTION, body="the sea"))
    photo = os.path.join(tmp("photo"), "sea.jpg")
    data = os.urandom(300_000) + b"SENTINEL-IN-THE-PHOTO"
    with open(photo, "wb") as f:
        f.write(data)
    a = ada.attach(e, photo, AttachOptions(thumbnail=b"tiny preview", width=4032, height=3024))
    assert (a.name, a.mime, a.size, a.width) == ("sea.jpg", "image/jpeg", len(data), 4032)
    assert a.state == AttachmentState.LOCAL and a.uploading
    report = run(ada.sync_now())
    assert report.attachments_sent == 2
    assert not ada.attachment(a.id).uploading

    run(ben.sync_now())
    [seen] = ben.attachments(e)
    assert seen.id == a.id and seen.state == AttachmentState.REMOTE_ONLY
    assert ben.thumbnail(a.id) == b"tiny preview"
    heard = Progress()
    sub = ben.subscribe_transfers(heard)
    out = os.path.join(tmp("fetched"), "sea.jpg")
    run(ben.fetch_attachment(a.id, out))
    assert open(out, "rb").read() == data
    assert ben.attachment(a.id).state == AttachmentState.LOCAL
    assert heard.seen and heard.seen[-1].done == heard.seen[-1].total
    sub.cancel()

    with pytest.raises(DuetError.NotFound):
        ben.attachment("00000000-0000-0000-0000-000000000000")
    with pytest.raises(DuetError.InvalidInput):
        ada.attach(e, photo, AttachOptions(thumbnail=bytes(40_000)))
    ben.remove_attachment(a.id)
    run(ben.sync_now())
    run(ada.sync_now())
    assert ada.attachments(e) == []


def test_prompt_answers_stay_sealed_until_both_answered(relay):
    ada, ben, j = couple(relay, "answers")

    # Ada answers today's prompt; she reads it, Ben's device shows it sealed.
    a = ada.answer_prompt(j, "The way you hum while cooking.", title="Small things")
    mine = ada.get_entry(a)
    assert not mine.sealed and mine.body == "The way you hum while cooking."
    assert mine.kind == EntryKind.PROMPT_ANSWER and mine.answer_round
    run(ada.sync_now())
    run(ben.sync_now())
    sealed = ben.get_entry(a)
    assert sealed.sealed and sealed.title == "" and sealed.body == ""
    listed = ben.list_entries(EntryFilter(journal_id=j)).items
    assert [s.sealed for s in listed if s.id == a] == [True]
    assert ben.search("cooking") == []
    with pytest.raises(DuetError.NotAllowed):
        ben.set_text(a, TextField.BODY, "mine")
    with pytest.raises(DuetError.NotAllowed):
        run(ben.reveal_answer(a))
    with pytest.raises(DuetError.InvalidInput):
        ben.answer_prompt(j, "x", prompt_id="no-such-prompt")
    with pytest.raises(DuetError.NotAllowed):
        ben.answer_prompt(ben.identity().personal_space_id, "x")

    # Ben answers the same prompt: after both sync, each reads both answers.
    b = ben.answer_prompt(j, "Your laugh at breakfast.", prompt_id=mine.prompt_id)
    for c in (ben, ada, ben):
        run(c.sync_now())
    for c in (ada, ben):
        assert c.get_entry(a).body == "The way you hum while cooking."
        assert c.get_entry(a).title == "Small things"
        assert c.get_entry(b).body == "Your laugh at breakfast."
        assert not c.get_entry(a).sealed and not c.get_entry(b).sealed
    assert [h.entry.id for h in ben.search("cooking")] == [a]

    # Revealed early: Ben reads Ada's answer to another prompt without answering it.
    other = "trust-02" if mine.prompt_id == "trust-01" else "trust-01"
    early = ada.answer_prompt(j, "Early bird.", prompt_id=other)
    run(ada.sync_now())
    run(ben.sync_now())
    assert ben.get_entry(early).sealed
    run(ada.reveal_answer(early))
    run(ben.sync_now())
    assert ben.get_entry(early).body == "Early bird."


def test_background_writes_coalesce_and_an_asked_sync_runs_at_once(relay):
    ada = DuetClient.init(tmp("ada-bg"), "Ada", relay)
    ben = DuetClient.init(tmp("ben-bg"), "Ben", relay)
    # A relay that registers only with its operator's token ignores it when open.
    ben.set_registration_token("not needed here")
    j = ada.create_journal("Us")
    assert run(ben.join(run(ada.create_invite(j)).code)) == j
    ada_heard, ben_heard = Recorder(), Recorder()
    subs = [ada.subscribe(ada_heard), ben.subscribe(ben_heard)]

    def syncs_started():
        return sum(
            1 for s in ada_heard.states
            if s.is_SYNCING() and s.progress.pushed == 0 and s.progress.pulled == 0
        )

    ben.set_app_state(AppState.FOREGROUND)
    assert ben.is_live()
    assert ben_heard.wait(lambda: any(s.is_LIVE() for s in ben_heard.states))
    ada.set_background_sync_interval(2)
    ada.set_app_state(AppState.BACKGROUND)
    assert not ada.is_live()
    written = []
    for i in range(20):  # ~3 s of typing
        time.sleep(0.15)
        written.append(ada.create_entry(j, NewEntry(kind=EntryKind.REFLECTION, body=f"note {i}")))
    assert ben_heard.wait(
        lambda: all(any(ev.entry_id == w for ev in ben_heard.events) for w in written), timeout=20
    )
    coalesced = syncs_started()
    assert 1 <= coalesced <= 4, f"20 writes over ~3 s with a 2 s window took {coalesced} syncs"
    assert any(s.is_SYNCING() and s.progress.pushed > 0 for s in ada_heard.states)

    ada.request_sync()
    assert ada_heard.wait(lambda: syncs_started() > coalesced, timeout=2)

    ada.set_app_state(AppState.FOREGROUND)
    assert ada.is_live()
    assert ada_heard.wait(lambda: any(s.is_LIVE() for s in ada_heard.states))
    with pytest.raises(DuetError.InvalidInput):
        ada.set_background_sync_interval(0)
    ada.stop_live()
    ben.stop_live()
    for s in subs:
        s.cancel()
