package app.duet

// duet-core's records, enums, ids and DuetException (the generated `app.duet.core` package).
import app.duet.core.*
import java.nio.file.Files
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows

private fun tempDir(name: String): String = Files.createTempDirectory("duet-$name").toString()

/** Collects what a DuetListener hears. */
class Recorder : DuetListener {
    val events = ConcurrentLinkedQueue<EntryEvent>()
    val states = ConcurrentLinkedQueue<SyncState>()
    @Volatile var latch: CountDownLatch? = null
    @Volatile var waitFor: ((EntryEvent) -> Boolean)? = null

    override fun onEntryEvent(event: EntryEvent) {
        events.add(event)
        if (waitFor?.invoke(event) == true) latch?.countDown()
    }

    override fun onSyncState(state: SyncState) {
        states.add(state)
    }

    fun expect(pred: (EntryEvent) -> Boolean): CountDownLatch {
        val l = CountDownLatch(1)
        waitFor = pred
        latch = l
        return l
    }
}

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DuetBindingsTest {
    private lateinit var relay: Relay

    @BeforeAll
    fun startRelay() {
        relay = Relay.start()
    }

    @AfterAll
    fun stopRelay() {
        relay.close()
    }

    @Test
    fun `a journal on one device - write, edit, react, reply, query, export`() {
        val dir = tempDir("ada")
        val ada = DuetClient.init(dir, "Ada")
        assertEquals(dir, ada.dataDir())
        val me = ada.identity()
        assertEquals("Ada", me.name)
        assertNull(ada.relayInfo())

        val j = ada.createJournal("Us")
        ada.renameJournal(j, "Us two")
        ada.setCheckinCadence(j, 7u)
        val journal = ada.getJournal(j)
        assertEquals("Us two", journal.title)
        assertEquals(7u, journal.checkinCadenceDays)
        assertEquals(SpaceKind.JOURNAL, journal.kind)
        assertTrue(ada.listJournals().any { it.kind == SpaceKind.PERSONAL && it.id == me.personalSpaceId })

        val id = ada.createEntry(j, NewEntry(kind = EntryKind.REFLECTION, title = "Sunday", body = "We walked.", tags = listOf("walk")))
        ada.setText(id, TextField.BODY, "We walked by the river.")
        // Positions are Unicode scalar values: after the emoji (2 UTF-16 units, 1 scalar).
        ada.setText(id, TextField.TITLE, "\uD83C\uDF05 Sunday")
        ada.splice(id, TextField.TITLE, 1u, 0u, "!")
        assertEquals("\uD83C\uDF05! Sunday", ada.getEntry(id).title)
        assertThrows<DuetException.InvalidInput> { ada.splice(id, TextField.TITLE, 99u, 0u, "x") }
        // A buffered burst of typing, one durable write.
        ada.spliceMany(id, TextField.BODY, listOf(
            TextEdit(position = 22u, deleteCount = 0u, insert = ", slowly"),
            TextEdit(position = 0u, deleteCount = 2u, insert = "Ada and Ben"),
        ))
        assertEquals("Ada and Ben walked by the river, slowly.", ada.getEntry(id).body)
        ada.setText(id, TextField.BODY, "We walked by the river.")
        ada.setTags(id, listOf("walk", "river"))
        ada.react(id, "❤️")
        assertEquals(1, ada.getEntry(id).reactions.size)
        ada.unreact(id)
        assertEquals(0, ada.getEntry(id).reactions.size)
        val r = ada.reply(id, "Lovely")
        ada.editReply(id, r, "Lovely day")
        ada.deleteReply(id, r)
        assertTrue(ada.getEntry(id).replies.single().deleted)
        ada.restoreReply(id, r)
        assertEquals("Lovely day", ada.getEntry(id).replies.single { !it.deleted }.body)

        val c = ada.checkIn(j, CheckIn(mood = 4u, closeness = 5u, gratitude = "the walk"))
        ada.setCheckInScores(c, mood = 3u)
        assertEquals(3.toUByte(), ada.getEntry(c).checkIn?.mood)
        val trends = ada.trends(j)
        assertEquals(j, trends.journalId)
        assertEquals(1, trends.members.size)
        val prompt = ada.promptOfTheDay(j)
        assertTrue(prompt.text.isNotEmpty() && prompt.id.isNotEmpty())
        assertTrue(ada.history(id).isNotEmpty())
        assertTrue(ada.conflicts(id).isEmpty())

        val page1 = ada.listEntries(EntryFilter(journalId = j, limit = 1u))
        assertEquals(1, page1.items.size)
        assertNotNull(page1.nextCursor)
        val page2 = ada.listEntries(EntryFilter(journalId = j, limit = 1u, cursor = page1.nextCursor))
        assertEquals(1, page2.items.size)
        assertEquals(1, ada.listEntries(EntryFilter(kind = EntryKind.CHECK_IN)).items.size)
        assertTrue("river" in ada.search("river").single().entry.tags)

        ada.deleteEntry(id)
        assertEquals(id, ada.listEntries(EntryFilter(trash = true)).items.single().id)
        ada.restoreEntry(id)
        assertFalse(ada.getEntry(id).deleted)

        val draft = ada.createEntry(me.personalSpaceId, NewEntry(kind = EntryKind.VULNERABILITY, body = "I was scared."))
        val shared = ada.shareDraft(draft, j)
        assertEquals(shared, ada.getEntry(draft).sharedAsId)
        assertEquals("I was scared.", ada.getEntry(shared).body)

        assertTrue(ada.exportMarkdown(j).contains("river"))
        assertTrue(ada.exportJson(j).contains("river"))
        assertTrue(ada.outboxLen() > 0uL)
        assertTrue(ada.quarantined().isEmpty())

        // A bundle carries the journal to another home, offline.
        val ben = DuetClient.init(tempDir("ben"), "Ben")
        val report = ben.importBundle(ada.exportBundle(j))
        assertTrue(report.newJournal)
        assertEquals(j, report.journalId)
        assertEquals("We walked by the river.", ben.getEntry(id).body)
        assertEquals(0u, ben.importBundle(ada.exportBundle(j)).entriesAdded)

        // Reopening the directory sees the same store.
        ada.close()
        val again = DuetClient.open(dir)
        assertEquals(me, again.identity())
        again.close()
        ben.close()
    }

    @Test
    fun `errors arrive as typed exceptions, never crashes`() {
        assertThrows<DuetException.NotInitialized> { DuetClient.open(tempDir("empty")) }
        val dir = tempDir("twice")
        DuetClient.init(dir, "Ada").use { ada ->
            assertThrows<DuetException.AlreadyInitialized> { DuetClient.init(dir, "Ada") }
            assertThrows<DuetException.InvalidInput> { ada.getEntry("not-an-id") }
            assertThrows<DuetException.NotFound> { ada.getEntry("01890000-0000-7000-8000-000000000000") }
            assertThrows<DuetException.InvalidInput> { ada.createJournal("") }
            assertThrows<DuetException.CorruptData> { ada.importBundle(byteArrayOf(1, 2, 3)) }
            assertThrows<DuetException.NoRelay> { ada.startLive() }
            assertFalse(ada.isLive())
            ada.stopLive() // not started: nothing happens
            runBlocking {
                assertThrows<DuetException.NoRelay> { ada.syncNow() }
                // A relay that is not there: Offline, and the write stays queued.
                ada.setRelay("http://127.0.0.1:9")
                ada.createJournal("Queued")
                assertThrows<DuetException.Offline> { ada.syncNow() }
                assertTrue(ada.outboxLen() > 0uL)
            }
        }
        // A panic inside the library becomes DuetException.Internal, on both paths.
        val e = assertThrows<DuetException.Internal> { debugPanic() }
        assertTrue(e.message!!.contains("debug_panic"))
        runBlocking { assertThrows<DuetException.Internal> { debugPanicAsync() } }
    }

    @Test
    fun `two partners sync through a real relay and concurrent edits merge`() = runBlocking {
        val ada = DuetClient.init(tempDir("ada"), "Ada", relay.url)
        val ben = DuetClient.init(tempDir("ben"), "Ben")
        assertEquals(relay.url.trimEnd('/'), ada.relayInfo()!!.url.trimEnd('/'))
        val j = ada.createJournal("Us")
        val invite = ada.createInvite(j)
        assertTrue(invite.code.startsWith("DUET-"))
        assertNotNull(ada.relayInfo()!!.deviceId)
        assertThrows<DuetException.InviteRejected> { ben.join("DUET-NOT-A-CODE") }
        assertEquals(j, ben.join(invite.uri)) // the URI carries the relay

        val heard = Recorder()
        val sub = ben.subscribe(heard)
        assertTrue(sub.isActive())

        // Both write offline (no sync between), then sync.
        val a1 = ada.createEntry(j, NewEntry(kind = EntryKind.REFLECTION, title = "Hers", body = "We walked by the river."))
        val b1 = ben.createEntry(j, NewEntry(kind = EntryKind.APPRECIATION, body = "Thank you for dinner."))
        ada.syncNow()
        val got = ben.syncNow()
        assertTrue(got.pulled > 0u && got.pushed > 0u)
        ada.syncNow()
        assertEquals("Thank you for dinner.", ada.getEntry(b1).body)
        assertEquals("We walked by the river.", ben.getEntry(a1).body)
        assertTrue(heard.events.any { it.entryId == a1 && it.origin == Origin.REMOTE && it.kind == EntryEventKind.ADDED })
        assertTrue(heard.states.any { it is SyncState.Synced })

        // Concurrent edits of the same text, offline: both survive.
        ada.setText(a1, TextField.BODY, "On Sunday we walked by the river.")
        ben.setText(a1, TextField.BODY, "We walked by the river, and talked.")
        ada.setCheckinCadence(j, 7u)
        ada.syncNow(); ben.syncNow(); ada.syncNow()
        val merged = "On Sunday we walked by the river, and talked."
        assertEquals(merged, ada.getEntry(a1).body)
        assertEquals(merged, ben.getEntry(a1).body)
        assertEquals(2, ada.getJournal(j).members.size)

        // A cancelled sync leaves the store consistent; the next one completes it.
        ben.react(a1, "🌊")
        for (afterMs in listOf(0L, 1L, 3L, 10L)) {
            val job = launch(Dispatchers.Default) { ben.syncNow() }
            delay(afterMs)
            job.cancel()
            job.join()
            ben.createEntry(j, NewEntry(kind = EntryKind.REFLECTION, body = "after a cancel $afterMs"))
        }
        ben.syncNow(); ada.syncNow()
        assertEquals("🌊", ada.getEntry(a1).reactions.single().emoji)
        assertEquals(
            ben.listEntries(EntryFilter(journalId = j)).items.map { it.id }.toSet(),
            ada.listEntries(EntryFilter(journalId = j)).items.map { it.id }.toSet(),
        )

        // Live: Ada's entry appears at Ben's within seconds, without syncNow.
        ben.startLive(); ada.startLive()
        ben.startLive() // twice: nothing happens
        assertTrue(ben.isLive())
        withTimeout(10_000) { while (heard.states.none { it is SyncState.Live }) delay(20) }
        val latch = heard.expect { it.origin == Origin.REMOTE && it.kind == EntryEventKind.ADDED }
        val live = ada.createEntry(j, NewEntry(kind = EntryKind.REFLECTION, body = "Live!"))
        assertTrue(latch.await(15, TimeUnit.SECONDS), "the live entry arrived")
        assertEquals("Live!", ben.getEntry(live).body)
        ada.stopLive(); ben.stopLive()
        assertFalse(ben.isLive())

        // Unsubscribed: no more events.
        sub.cancel()
        assertFalse(sub.isActive())
        val before = heard.events.size
        ben.createEntry(j, NewEntry(kind = EntryKind.REFLECTION, body = "quiet"))
        assertEquals(before, heard.events.size)
        sub.close()

        // Ada's second device joins with a link code and gets everything.
        val link = ada.linkDevice()
        val phone = DuetClient.joinDevice(tempDir("ada-phone"), link.code, relay.url)
        assertEquals(ada.identity().memberId, phone.identity().memberId)
        assertEquals(merged, phone.getEntry(a1).body)

        // Devices, a snapshot, a lost phone revoked, and a partner removed.
        ada.syncNow()
        val devices = phone.devices()
        assertEquals(phone.relayInfo()!!.deviceId, devices.first())
        assertTrue(ada.uploadSnapshot(j) >= 1uL)
        ada.revokeDevice(devices.first())
        assertThrows<DuetException.RelayRefused> { runBlocking { phone.syncNow() } }
        // Every key the phone held was replaced; Ben takes the new one and reads on.
        assertEquals(2u, ada.getJournal(j).keyEpoch)
        val kept = ada.createEntry(j, NewEntry(kind = EntryKind.REFLECTION, body = "after the phone"))
        ada.syncNow(); ben.syncNow()
        assertEquals("after the phone", ben.getEntry(kept).body)
        assertEquals(2u, ben.getJournal(j).keyEpoch)
        assertThrows<DuetException.NotAllowed> { runBlocking { ada.removeMember(j, ada.identity().memberId) } }
        ada.removeMember(j, ben.identity().memberId)
        val after = ada.createEntry(j, NewEntry(kind = EntryKind.REFLECTION, body = "after Ben left"))
        ada.syncNow(); ben.syncNow()
        assertThrows<DuetException.NotFound> { ben.getEntry(after) }
        phone.close(); ada.close(); ben.close()
    }

    @Test
    fun `a partner brings back one who lost every device, as the same member`() = runBlocking {
        val ada = DuetClient.init(tempDir("ada-lost"), "Ada", relay.url)
        val ben = DuetClient.init(tempDir("ben-restores"), "Ben", relay.url)
        val j = ada.createJournal("Us")
        assertEquals(j, ben.join(ada.createInvite(j).code))
        val old = ada.createEntry(j, NewEntry(kind = EntryKind.REFLECTION, body = "from before"))
        ada.syncNow(); ben.syncNow()

        // Every device of Ada's is gone; Ben makes her a restore code.
        val code = ben.restoreMember(j, ada.identity().memberId)
        assertEquals(2u, ben.getJournal(j).keyEpoch)
        val again = DuetClient.init(tempDir("ada-again"), "Ada", relay.url)
        assertEquals(j, again.join(code.code))
        assertEquals(ada.identity().memberId, again.identity().memberId)
        assertEquals("from before", again.getEntry(old).body)
        val next = again.createEntry(j, NewEntry(kind = EntryKind.REFLECTION, body = "I'm back"))
        again.syncNow(); ben.syncNow()
        assertEquals(ada.identity().memberId, ben.getEntry(next).authorId)
        ada.close(); ben.close(); again.close()
    }

    @Test
    fun `a recovery kit brings back one who lost every device`() = runBlocking {
        val ada = DuetClient.init(tempDir("ada-kit"), "Ada", relay.url)
        val ben = DuetClient.init(tempDir("ben-kit"), "Ben", relay.url)
        val j = ada.createJournal("Us")
        assertEquals(j, ben.join(ada.createInvite(j).code))
        val me = ada.identity()
        val draft = ada.createEntry(me.personalSpaceId, NewEntry(kind = EntryKind.VULNERABILITY, body = "only mine"))
        ada.syncNow()
        val kit = ada.recoveryKit()
        assertTrue(kit.created)
        assertEquals(24, kit.words.split(" ").size)
        assertEquals(kit.words, ada.recoveryKit().words)

        // Every device of Ada's is gone; wrong words leave nothing behind.
        val home = java.io.File(tempDir("ada-recovered"), "home").path
        assertThrows<DuetException.WrongWords> {
            DuetClient.recover(home, "abandon ".repeat(23) + "art", relay.url)
        }
        assertFalse(java.io.File(home).exists())
        val back = DuetClient.recover(home, kit.words, relay.url)
        assertEquals(me.memberId, back.identity().memberId)
        assertEquals("only mine", back.getEntry(draft).body)
        val next = back.createEntry(j, NewEntry(kind = EntryKind.REFLECTION, body = "back"))
        back.syncNow(); ben.syncNow()
        assertEquals(me.memberId, ben.getEntry(next).authorId)
        ada.close(); ben.close(); back.close()
    }

    @Test
    fun `attachments are sealed, synced, fetched with progress and removed`() = runBlocking {
        val ada = DuetClient.init(tempDir("ada-att"), "Ada", relay.url)
        val ben = DuetClient.init(tempDir("ben-att"), "Ben", relay.url)
        val j = ada.createJournal("Us")
        assertEquals(j, ben.join(ada.createInvite(j).code))
        val e = ada.createEntry(j, NewEntry(kind = EntryKind.REFLECTION, body = "the sea"))
        val photo = java.io.File(tempDir("photo"), "sea.jpg")
        val data = ByteArray(300_000) { (it * 31 % 251).toByte() }
        photo.writeBytes(data)
        val a = ada.attach(e, photo.path, AttachOptions(thumbnail = "tiny".toByteArray(), width = 4032u, height = 3024u))
        assertEquals("image/jpeg", a.mime)
        assertEquals(data.size.toULong(), a.size)
        assertEquals(AttachmentState.LOCAL, a.state)
        assertEquals(2u, ada.syncNow().attachmentsSent)

        ben.syncNow()
        val seen = ben.attachments(e).single()
        assertEquals(AttachmentState.REMOTE_ONLY, seen.state)
        assertEquals("tiny", String(ben.thumbnail(a.id)!!))
        val heard = ConcurrentLinkedQueue<TransferProgress>()
        val sub = ben.subscribeTransfers(object : TransferListener {
            override fun onProgress(progress: TransferProgress) {
                heard.add(progress)
            }
        })
        val out = java.io.File(tempDir("fetched"), "sea.jpg")
        ben.fetchAttachment(a.id, out.path)
        assertTrue(data.contentEquals(out.readBytes()))
        assertEquals(AttachmentState.LOCAL, ben.attachment(a.id).state)
        assertTrue(heard.isNotEmpty())
        assertEquals(heard.last().total, heard.last().done)
        sub.cancel()

        assertThrows<DuetException.InvalidInput> {
            ada.attach(e, photo.path, AttachOptions(thumbnail = ByteArray(40_000)))
        }
        ben.removeAttachment(a.id)
        ben.syncNow(); ada.syncNow()
        assertTrue(ada.attachments(e).isEmpty())
        ada.close(); ben.close()
    }

    @Test
    fun `prompt answers stay sealed until both partners answered`() = runBlocking {
        val ada = DuetClient.init(tempDir("ada-answers"), "Ada", relay.url)
        val ben = DuetClient.init(tempDir("ben-answers"), "Ben", relay.url)
        val j = ada.createJournal("Us")
        assertEquals(j, ben.join(ada.createInvite(j).code))

        // Ada answers today's prompt; she reads it, Ben's device shows it sealed.
        val a = ada.answerPrompt(j, "The way you hum while cooking.", title = "Small things")
        val mine = ada.getEntry(a)
        assertFalse(mine.sealed)
        assertEquals("The way you hum while cooking.", mine.body)
        assertEquals(EntryKind.PROMPT_ANSWER, mine.kind)
        assertNotNull(mine.answerRound)
        ada.syncNow(); ben.syncNow()
        val sealed = ben.getEntry(a)
        assertTrue(sealed.sealed)
        assertEquals("", sealed.title)
        assertEquals("", sealed.body)
        assertTrue(ben.listEntries(EntryFilter(journalId = j)).items.single { it.id == a }.sealed)
        assertTrue(ben.search("cooking").isEmpty())
        assertThrows<DuetException.NotAllowed> { ben.setText(a, TextField.BODY, "mine") }
        assertThrows<DuetException.NotAllowed> { runBlocking { ben.revealAnswer(a) } }
        assertThrows<DuetException.InvalidInput> { ben.answerPrompt(j, "x", promptId = "no-such-prompt") }
        assertThrows<DuetException.NotAllowed> { ben.answerPrompt(ben.identity().personalSpaceId, "x") }

        // Ben answers the same prompt: after both sync, each reads both answers.
        val b = ben.answerPrompt(j, "Your laugh at breakfast.", promptId = mine.promptId)
        ben.syncNow(); ada.syncNow(); ben.syncNow()
        for (c in listOf(ada, ben)) {
            assertEquals("The way you hum while cooking.", c.getEntry(a).body)
            assertEquals("Small things", c.getEntry(a).title)
            assertEquals("Your laugh at breakfast.", c.getEntry(b).body)
            assertFalse(c.getEntry(a).sealed || c.getEntry(b).sealed)
        }
        assertEquals(a, ben.search("cooking").single().entry.id)

        // Revealed early: Ben reads Ada's answer to another prompt without answering it.
        val other = if (mine.promptId == "trust-01") "trust-02" else "trust-01"
        val early = ada.answerPrompt(j, "Early bird.", promptId = other)
        ada.syncNow(); ben.syncNow()
        assertTrue(ben.getEntry(early).sealed)
        ada.revealAnswer(early)
        ben.syncNow()
        assertEquals("Early bird.", ben.getEntry(early).body)
        ada.close(); ben.close()
    }

    @Test
    fun `in the background writes are coalesced and the app can still ask for a sync`() = runBlocking {
        val ada = DuetClient.init(tempDir("ada-bg"), "Ada", relay.url)
        val ben = DuetClient.init(tempDir("ben-bg"), "Ben", relay.url)
        val j = ada.createJournal("Us")
        assertEquals(j, ben.join(ada.createInvite(j).code))
        val adaHeard = Recorder(); val adaSub = ada.subscribe(adaHeard)
        val benHeard = Recorder(); val benSub = ben.subscribe(benHeard)
        fun syncsStarted() = adaHeard.states.count {
            it is SyncState.Syncing && it.progress.pushed == 0u && it.progress.pulled == 0u
        }

        // Ben's app is open (live); Ada's is in the background with a 2 s window.
        ben.setAppState(AppState.FOREGROUND)
        assertTrue(ben.isLive())
        withTimeout(10_000) { while (benHeard.states.none { it is SyncState.Live }) delay(20) }
        ada.setBackgroundSyncInterval(2u)
        ada.setAppState(AppState.BACKGROUND)
        assertFalse(ada.isLive())
        val written = (1..20).map { i ->
            delay(150) // ~3 s of typing
            ada.createEntry(j, NewEntry(kind = EntryKind.REFLECTION, body = "note $i"))
        }
        withTimeout(20_000) {
            while (!written.all { id -> benHeard.events.any { it.entryId == id } }) delay(50)
        }
        val coalesced = syncsStarted()
        assertTrue(coalesced in 1..4, "20 writes over ~3 s with a 2 s window took $coalesced syncs")
        // Progress came with them: each acknowledged batch.
        assertTrue(adaHeard.states.any { it is SyncState.Syncing && it.progress.pushed > 0u })

        // The app asks (a background fetch): a sync at once, inside the window.
        ada.requestSync()
        withTimeout(2_000) { while (syncsStarted() <= coalesced) delay(20) }

        // Back on screen: live again.
        ada.setAppState(AppState.FOREGROUND)
        assertTrue(ada.isLive())
        withTimeout(10_000) { while (adaHeard.states.none { it is SyncState.Live }) delay(20) }
        assertThrows<DuetException.InvalidInput> { ada.setBackgroundSyncInterval(0u) }
        ada.stopLive(); ben.stopLive()
        adaSub.close(); benSub.close(); ada.close(); ben.close()
    }
}
