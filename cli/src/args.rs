//! The command line, as clap sees it. Only shapes live here; what each command does lives in
//! `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Shown under `duet --help`; its exit statuses are duet-core's (`ErrorCode::exit_code`), as a
/// test checks.
const AFTER_HELP: &str = "\
Naming journals and entries:
  J (journal)  the journal id, a unique id prefix, its exact title (any case),
               or `personal` for your private drafts
  ID (entry)   the entry id or a unique prefix of at least 4 characters
  AID          an attachment's id, or a unique prefix of at least 4 characters

Output:
  Text for people by default; with --json, one JSON document on stdout.
  Times are RFC 3339 in text; in JSON they are milliseconds since the epoch,
  with `*_rfc3339` companions (an invite's expires_at is in seconds, as the
  relay gives it). `watch --json` prints one JSON object per line instead.

Errors and exit codes:
  Errors print `error: <message> (<code>)` on stderr, or with --json
  {\"error\":{\"code\":...,\"message\":...}} on stdout.
  0  success
  1  any other failure (not_allowed, corrupt_data, wrong_key, storage, io, ...)
  2  usage error, invalid_input or too_large (a file over the attachment limit)
  3  not_found
  4  not_initialized (run `duet init --name NAME` first)
  5  offline: the relay could not be reached; writes stay queued, try again
  6  no_relay (run `duet relay set URL` first)
  7  relay_refused: the relay answered with an error (its code is in the message)
  8  invite_rejected: the code is malformed, expired, used or wrong
  9  wrong_words: the recovery words are not a kit's
  10  quota_exceeded: the journal's attachment storage at the relay is full

Syncing with a relay:
  duet init --name NAME --relay URL      (or: duet relay set URL)
  duet invite create --journal J         gives a code for your partner, who runs
  duet join CODE                         (the duet: URI carries the relay too)
  duet sync                              push and pull once; `duet watch` stays live

Logs go to stderr, filtered by RUST_LOG (default: warn).";

#[derive(Debug, Parser)]
#[command(
    name = "duet",
    version,
    about = "Duet: the journal two partners keep together, on the command line.",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Where this device keeps its journal [default: $DUET_HOME, else a per-user data dir]
    #[arg(
        long,
        global = true,
        env = "DUET_HOME",
        hide_env_values = true,
        value_name = "DIR"
    )]
    pub home: Option<PathBuf>,

    /// Print one JSON document on stdout instead of text
    #[arg(long, global = true)]
    pub json: bool,

    /// The relay operator's token, for a relay that registers devices only with it; used
    /// when this device registers (init --relay then sync, relay set, device join)
    #[arg(
        long,
        global = true,
        env = "DUET_REGISTRATION_TOKEN",
        hide_env_values = true
    )]
    pub registration_token: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Set up this device: your identity and your private space for drafts
    Init {
        /// Your display name, as your partner will see it
        #[arg(long)]
        name: String,
        /// The relay to sync through, e.g. http://127.0.0.1:8787 (nothing is sent yet)
        #[arg(long, value_name = "URL")]
        relay: Option<String>,
    },
    /// Create and list journals
    #[command(subcommand)]
    Journal(JournalCommand),
    /// Write, read, edit and list entries
    #[command(subcommand)]
    Entry(EntryCommand),
    /// Attach a file (a photo, a voice note, ...) to an entry: sealed here at once, sent
    /// with the next sync; JPEG and PNG get a thumbnail that syncs with the entry
    Attach {
        /// Entry id or unique prefix
        entry: String,
        /// The file
        file: PathBuf,
        /// Its name as shown [default: the file's name]
        #[arg(long)]
        name: Option<String>,
        /// Its media type [default: from the name's extension]
        #[arg(long)]
        mime: Option<String>,
    },
    /// List an entry's attachments
    Attachments {
        /// Entry id or unique prefix
        entry: String,
    },
    /// Get, preview or remove one attachment
    #[command(subcommand)]
    Attachment(AttachmentCommand),
    /// React to an entry with an emoji (one reaction per person; again replaces it)
    React {
        /// Entry id or unique prefix
        id: String,
        /// The emoji
        #[arg(required_unless_present = "remove", conflicts_with = "remove")]
        emoji: Option<String>,
        /// Take your reaction back
        #[arg(long)]
        remove: bool,
    },
    /// Reply to an entry
    Reply {
        /// Entry id or unique prefix
        id: String,
        /// What you want to say
        #[arg(allow_hyphen_values = true)]
        text: String,
    },
    /// Record a check-in: mood and closeness from 1 to 5
    Checkin(CheckinArgs),
    /// Check-in trends per partner, week by week
    Trends {
        /// The journal: id, id prefix, title or `personal`
        #[arg(long, short = 'j', value_name = "J")]
        journal: String,
    },
    /// Today's prompt for a journal (the same on both partners' devices); answer it sealed
    /// until your partner answers too
    Prompt(PromptArgs),
    /// Full-text search over everything written, offline
    Search {
        /// Words to look for
        query: String,
        /// Only this journal
        #[arg(long, short = 'j', value_name = "J")]
        journal: Option<String>,
        /// At most this many results
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Who changed an entry, and when
    History {
        /// Entry id or unique prefix
        id: String,
    },
    /// Fields of an entry that you both changed at the same time
    Conflicts {
        /// Entry id or unique prefix
        id: String,
    },
    /// Share a private draft into a journal (your partner sees what you share, not the drafting)
    Share {
        /// The draft's entry id or unique prefix
        id: String,
        /// The journal to share it into
        #[arg(long, short = 'j', value_name = "J")]
        journal: String,
    },
    /// Hand a journal to another device as a sealed file
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Export a journal to read or keep: Markdown or JSON (unencrypted)
    Export {
        /// The journal: id, id prefix, title or `personal`
        #[arg(long, short = 'j', value_name = "J")]
        journal: String,
        /// markdown to read, json to keep or move elsewhere
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Write here instead of stdout
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Set or show the relay this home syncs through
    #[command(subcommand)]
    Relay(RelayCommand),
    /// Invite your partner to a journal
    #[command(subcommand)]
    Invite(InviteCommand),
    /// Join your partner's journal with their invite code or duet: URI
    Join {
        /// The code (DUET-XXXX-...) or the duet:join?... URI
        code: String,
    },
    /// Link another device of yours, list and revoke your devices
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Push what this device wrote and pull what is new, once
    Sync,
    /// Stay connected and print partners' changes as they arrive (sync state on stderr)
    Watch(WatchArgs),
    /// Manage who is in a journal
    #[command(subcommand)]
    Member(MemberCommand),
    /// Who this device belongs to
    Whoami,
    /// Your recovery kit: 24 words that bring everything back if you lose every device
    #[command(subcommand)]
    Recovery(RecoveryCommand),
    /// Set up a new home (given with --home) from your recovery kit's words
    Recover {
        /// The relay your kit is kept on
        #[arg(long, value_name = "URL")]
        relay: String,
        /// The 24 words (quoted); without this they are read from standard input, which
        /// keeps them out of your shell's history
        #[arg(long, value_name = "WORDS")]
        words: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AttachmentCommand {
    /// Write the original to a file (downloaded from the relay if this device lacks it)
    Get {
        /// The attachment's id or a unique prefix of it
        id: String,
        /// Where to write it
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Write the thumbnail to a file
    Thumbnail {
        /// The attachment's id or a unique prefix of it
        id: String,
        /// Where to write it
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Remove it from its entry (the relay frees its bytes once no entry uses them)
    Remove {
        /// The attachment's id or a unique prefix of it
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RecoveryCommand {
    /// Make your recovery kit, or show it again on the device that made it
    Kit {
        /// Make a new kit even if you have one (the old words stop working)
        #[arg(long)]
        new: bool,
    },
}

/// `prompt --journal J` shows today's prompt; `prompt answer` and `prompt reveal` act on it.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct PromptArgs {
    /// The journal: id, id prefix, title or `personal`
    #[arg(long, short = 'j', value_name = "J", required = true)]
    pub journal: Option<String>,
    #[command(subcommand)]
    pub command: Option<PromptCommand>,
}

#[derive(Debug, Subcommand)]
pub enum PromptCommand {
    /// Answer today's prompt (or --prompt ID), sealed: your partner reads it once they have
    /// answered the same prompt too, or once you reveal it
    Answer(AnswerArgs),
    /// Reveal your sealed answer now, before your partner has answered (needs the relay)
    Reveal {
        /// Your answer's entry id or unique prefix
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct AnswerArgs {
    /// The shared journal: id, id prefix or title
    #[arg(long, short = 'j', value_name = "J")]
    pub journal: String,
    /// A title (optional)
    #[arg(long, short = 't', allow_hyphen_values = true)]
    pub title: Option<String>,
    #[command(flatten)]
    pub body: BodyArgs,
    /// The prompt to answer [default: today's prompt of the journal]
    #[arg(long, value_name = "ID")]
    pub prompt: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum RelayCommand {
    /// Sync through this relay from now on. The same relay under another address keeps
    /// this device's identity, a relay used before gets it back, a new relay means
    /// registering there afresh (partners invite you again); nothing is lost either way
    Set {
        /// http(s)://host or http(s)://host:port
        url: String,
    },
    /// The relay, this device's id there, and what is waiting to be pushed
    Show,
}

/// An invite's lifetime: 1 hour to a week (the relay's limit).
#[derive(Debug, Args)]
pub struct TtlArgs {
    /// How long the code stays valid, in hours [default: the relay's, 24]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=168))]
    pub ttl_hours: Option<u64>,
}

impl TtlArgs {
    pub fn secs(&self) -> Option<u64> {
        self.ttl_hours.map(|h| h * 3600)
    }
}

#[derive(Debug, Subcommand)]
pub enum InviteCommand {
    /// Make a one-time code (and duet: URI) that lets your partner join a journal
    Create {
        /// The journal: id, id prefix or title
        #[arg(long, short = 'j', value_name = "J")]
        journal: String,
        #[command(flatten)]
        ttl: TtlArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Make a one-time code for a new device of yours (run `device join` there)
    Link {
        #[command(flatten)]
        ttl: TtlArgs,
    },
    /// Set up a new home (given with --home) as another device of the person who made CODE
    Join {
        /// The code from `duet device link` (or its duet: URI)
        code: String,
        /// The relay, when CODE is a bare code rather than a URI
        #[arg(long, value_name = "URL")]
        relay: Option<String>,
    },
    /// Your devices' ids at the relay (this one first)
    List,
    /// Cut a device off the relay at once, e.g. a lost phone
    Revoke {
        /// The device's relay id (or a unique prefix of one of yours)
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Exit after printing this many partner events
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub exit_after: Option<u64>,
    /// Exit after this many seconds
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Remove a partner from a journal: their devices leave it and its key changes
    Remove {
        /// The journal: id, id prefix or title
        #[arg(long, short = 'j', value_name = "J")]
        journal: String,
        /// The member: name, id or id prefix
        #[arg(long, value_name = "M")]
        member: String,
    },
    /// Bring back a partner who lost every device: a one-use code for their new home
    /// (`duet init`, then `duet join CODE`) that rejoins as the same member. Their old
    /// devices leave the journal and its key changes now; private drafts can't come back
    Restore {
        /// The journal: id, id prefix or title
        #[arg(long, short = 'j', value_name = "J")]
        journal: String,
        /// The member: name, id or id prefix
        #[arg(long, value_name = "M")]
        member: String,
        #[command(flatten)]
        ttl: TtlArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum JournalCommand {
    /// Start a new shared journal
    Create {
        /// What to call it, e.g. "Our journal"
        #[arg(long)]
        title: String,
    },
    /// List your journals (your personal space first)
    List,
}

#[derive(Debug, Subcommand)]
pub enum EntryCommand {
    /// Write a new entry (in `--journal personal` it is a private draft)
    New(NewEntryArgs),
    /// Change an entry's text; your partner's concurrent edits elsewhere survive
    Edit(EditEntryArgs),
    /// Show one entry in full
    Show {
        /// Entry id or unique prefix
        id: String,
    },
    /// List entries, newest first
    List(ListEntriesArgs),
    /// Move an entry to the trash (restore it any time)
    Delete {
        /// Entry id or unique prefix
        id: String,
    },
    /// Bring an entry back from the trash
    Restore {
        /// Entry id or unique prefix
        id: String,
    },
}

/// Where a body comes from: the command line or a file (`-` for stdin).
#[derive(Debug, Args)]
pub struct BodyArgs {
    /// The text of the entry
    #[arg(long, allow_hyphen_values = true)]
    pub body: Option<String>,
    /// Read the text from a file (`-` for stdin)
    #[arg(long, value_name = "FILE", conflicts_with = "body")]
    pub body_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct NewEntryArgs {
    /// The journal: id, id prefix, title or `personal`
    #[arg(long, short = 'j', value_name = "J")]
    pub journal: String,
    /// reflection, appreciation, vulnerability, conflict or prompt_answer
    /// [default: prompt_answer with --prompt, else reflection]
    #[arg(long, short = 'k')]
    pub kind: Option<String>,
    /// A title (optional)
    #[arg(long, short = 't', allow_hyphen_values = true)]
    pub title: Option<String>,
    #[command(flatten)]
    pub body: BodyArgs,
    /// A tag (repeat for several)
    #[arg(long = "tag", value_name = "X")]
    pub tags: Vec<String>,
    /// The id of the prompt this answers (see `duet prompt`)
    #[arg(long, value_name = "ID")]
    pub prompt: Option<String>,
    /// For a conflict entry: your perspective
    #[arg(long, allow_hyphen_values = true)]
    pub perspective: Option<String>,
}

#[derive(Debug, Args)]
pub struct EditEntryArgs {
    /// Entry id or unique prefix
    pub id: String,
    /// The new title
    #[arg(long, short = 't', allow_hyphen_values = true)]
    pub title: Option<String>,
    #[command(flatten)]
    pub body: BodyArgs,
    /// For a conflict entry: your perspective, in full
    #[arg(long, allow_hyphen_values = true)]
    pub perspective: Option<String>,
    /// For a conflict entry: what you agreed, in full
    #[arg(long, allow_hyphen_values = true)]
    pub agreement: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListEntriesArgs {
    /// The journal: id, id prefix, title or `personal`
    #[arg(long, short = 'j', value_name = "J")]
    pub journal: String,
    /// Only this kind
    #[arg(long, short = 'k')]
    pub kind: Option<String>,
    /// Only by this person: `me`, a name, or a member id (prefix)
    #[arg(long, value_name = "M")]
    pub author: Option<String>,
    /// Only entries with this tag
    #[arg(long, value_name = "X")]
    pub tag: Option<String>,
    /// List the trash instead
    #[arg(long)]
    pub trash: bool,
    /// Page size (default 50)
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// Continue from the `next` cursor of a previous page
    #[arg(long, value_name = "C")]
    pub cursor: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckinArgs {
    /// The journal: id, id prefix, title or `personal`
    #[arg(long, short = 'j', value_name = "J")]
    pub journal: String,
    /// How you feel, 1 (low) to 5 (great)
    #[arg(long, value_name = "N")]
    pub mood: u8,
    /// How close you feel, 1 to 5
    #[arg(long, value_name = "N")]
    pub closeness: u8,
    /// What you need
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub needs: Option<String>,
    /// What you're grateful for
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub gratitude: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Write a journal (and its key) to a sealed file for another device
    Export {
        /// The journal: id, id prefix, title or `personal`
        #[arg(long, short = 'j', value_name = "J")]
        journal: String,
        /// The bundle file to write
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Read a bundle file: adds the journal, or merges what is new
    Import {
        /// The bundle file
        file: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Markdown,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// The help's exit status table says what duet-core's table of error codes says.
    #[test]
    fn the_help_lists_every_code_under_its_exit_status() {
        for &code in duet_core::ErrorCode::ALL {
            let row = format!("  {}  ", code.exit_code());
            let line = AFTER_HELP.lines().find(|l| l.starts_with(&row));
            let listed = line.is_some_and(|l| l.contains(code.as_str()));
            // Status 1 is "any other failure": its line names most codes, not all.
            assert!(listed || code.exit_code() == 1, "{code} not under {row:?}");
        }
    }
}
