"""Memory on the phone: the resident set of a process that opens a 10,000-entry journal
through the bindings' library, lists the newest 50 with their bodies and searches it.

    python3 mobile-bindings/bench/rss.py BINDINGS_DIR [ENTRIES]

BINDINGS_DIR holds the generated duet_mobile.py / duet_core.py and the library
(mobile-bindings/scripts/rss.sh makes a release one). The journal is written by a child
process first, so only reading counts. Prints VmRSS and VmHWM (peak) from /proc.
"""
import os
import random
import subprocess
import sys
import tempfile

WORDS = ("the garden we walked slowly and talked about light home morning coffee rain "
         "river sunday laughed quiet held hands kitchen music letter tired proud").split()


def status():
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return {k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM")}


def write(bindings, home, n):
    sys.path.insert(0, bindings)
    from duet_mobile import DuetClient
    from duet_core import EntryKind, NewEntry
    rng = random.Random(42)
    d = DuetClient.init(home, "Ada")
    j = d.create_journal("Us")
    for _ in range(n):
        body = " ".join(rng.choice(WORDS) for _ in range(90))
        title = " ".join(rng.choice(WORDS) for _ in range(4))
        d.create_entry(j, NewEntry(kind=EntryKind.REFLECTION, title=title, body=body))


def read(bindings, home):
    before = status()
    sys.path.insert(0, bindings)
    from duet_mobile import DuetClient
    from duet_core import EntryFilter
    loaded = status()
    d = DuetClient.open(home)
    journal = next(x.id for x in d.list_journals() if x.title == "Us")
    page = d.list_entries(EntryFilter(journal_id=journal, limit=50))
    chars = sum(len(d.get_entry(s.id).body) for s in page.items)
    hits = sum(len(d.search(w, journal_id=journal)) for w in ("garden", "river", "letter"))
    after = status()
    print(f"python alone: {before['VmRSS']:.1f} MiB; with the library loaded: "
          f"{loaded['VmRSS']:.1f} MiB")
    print(f"journal open, newest {len(page.items)} listed ({chars} body chars), "
          f"3 searches ({hits} hits): VmRSS {after['VmRSS']:.1f} MiB, "
          f"peak VmHWM {after['VmHWM']:.1f} MiB; above Python alone: "
          f"{after['VmHWM'] - before['VmRSS']:.1f} MiB (target: process <= 40 MB)")


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--write":
        write(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        sys.exit(0)
    bindings = os.path.abspath(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    home = tempfile.mkdtemp(prefix="duet-rss-")
    subprocess.run([sys.executable, __file__, "--write", bindings, home, str(n)], check=True)
    print(f"{n} entries written to {home}")
    read(bindings, home)
