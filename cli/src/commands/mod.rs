//! One function per command. Each returns a [`Report`] holding both its JSON document and
//! its text. Only what goes on as a command runs is printed here, on stderr: `watch`'s
//! events and `sync`'s progress.

mod attachments;
mod devices;
mod entries;
mod exchange;
mod insights;
mod invites;
mod journals;
mod recovery;
mod setup;
mod social;
mod sync;
mod watch;

use std::path::PathBuf;

use duet_core::Result;
use tokio::runtime::Runtime;

use crate::args::{
    AttachmentCommand, BundleCommand, Command, DeviceCommand, EntryCommand, InviteCommand,
    JournalCommand, MemberCommand, PromptArgs, PromptCommand, RecoveryCommand, RelayCommand,
};
use crate::home;
use crate::output::Report;

/// Run a parsed command against the home it names. Relay calls run on `rt`; `json` is
/// for `watch`, which prints as it goes.
pub fn run(
    rt: &Runtime,
    home_arg: Option<PathBuf>,
    registration_token: Option<String>,
    command: Command,
    json: bool,
) -> Result<Report> {
    let home = home::resolve(home_arg)?;
    let opts = home::options(registration_token);
    tracing::debug!(command = name_of(&command), "running");
    // These three make a home rather than open one.
    match &command {
        Command::Init { name, relay } => return setup::init(&home, name, relay.as_deref(), opts),
        Command::Recover { relay, words } => {
            return recovery::recover(rt, &home, opts, relay, words.as_deref());
        }
        Command::Device(DeviceCommand::Join { code, relay }) => {
            return devices::join(rt, &home, code, relay.as_deref(), opts);
        }
        _ => {}
    }
    let duet = home::open(&home, opts)?;
    match command {
        // Handled above; a home that opens is initialized already.
        Command::Init { .. }
        | Command::Recover { .. }
        | Command::Device(DeviceCommand::Join { .. }) => Err(duet_core::Error::AlreadyInitialized),
        Command::Recovery(RecoveryCommand::Kit { new }) => recovery::kit(rt, &duet, new),
        Command::Relay(RelayCommand::Set { url }) => sync::relay_set(rt, &duet, &url),
        Command::Relay(RelayCommand::Show) => sync::relay_show(&duet),
        Command::Sync => sync::sync(rt, &duet, json),
        Command::Watch(a) => watch::watch(rt, duet, a, json),
        Command::Invite(InviteCommand::Create { journal, ttl }) => {
            invites::create(rt, &duet, &journal, ttl.secs())
        }
        Command::Join { code } => invites::join(rt, &duet, &code),
        Command::Member(MemberCommand::Remove { journal, member }) => {
            invites::remove_member(rt, &duet, &journal, &member)
        }
        Command::Member(MemberCommand::Restore {
            journal,
            member,
            ttl,
        }) => invites::restore_member(rt, &duet, &journal, &member, ttl.secs()),
        Command::Device(DeviceCommand::Link { ttl }) => devices::link(rt, &duet, ttl.secs()),
        Command::Device(DeviceCommand::List) => devices::list(&duet),
        Command::Device(DeviceCommand::Revoke { id }) => devices::revoke(rt, &duet, &id),
        Command::Whoami => setup::whoami(&duet),
        Command::Journal(JournalCommand::Create { title }) => journals::create(&duet, &title),
        Command::Journal(JournalCommand::List) => journals::list(&duet),
        Command::Entry(EntryCommand::New(a)) => entries::new(&duet, a),
        Command::Entry(EntryCommand::Edit(a)) => entries::edit(&duet, a),
        Command::Entry(EntryCommand::Show { id }) => entries::show(&duet, &id),
        Command::Entry(EntryCommand::List(a)) => entries::list(&duet, a),
        Command::Entry(EntryCommand::Delete { id }) => entries::delete(&duet, &id),
        Command::Entry(EntryCommand::Restore { id }) => entries::restore(&duet, &id),
        Command::Attach {
            entry,
            file,
            name,
            mime,
        } => attachments::attach(&duet, &entry, &file, name, mime),
        Command::Attachments { entry } => attachments::list(&duet, &entry),
        Command::Attachment(AttachmentCommand::Get { id, out }) => {
            attachments::get(rt, &duet, &id, &out)
        }
        Command::Attachment(AttachmentCommand::Thumbnail { id, out }) => {
            attachments::thumbnail(&duet, &id, &out)
        }
        Command::Attachment(AttachmentCommand::Remove { id }) => attachments::remove(&duet, &id),
        Command::React { id, emoji, remove } => social::react(&duet, &id, emoji.as_deref(), remove),
        Command::Reply { id, text } => social::reply(&duet, &id, &text),
        Command::Share { id, journal } => social::share(&duet, &id, &journal),
        Command::Checkin(a) => insights::checkin(&duet, a),
        Command::Trends { journal } => insights::trends(&duet, &journal),
        Command::Prompt(PromptArgs {
            command: Some(PromptCommand::Answer(a)),
            ..
        }) => insights::answer(&duet, a),
        Command::Prompt(PromptArgs {
            command: Some(PromptCommand::Reveal { id }),
            ..
        }) => insights::reveal(rt, &duet, &id),
        Command::Prompt(PromptArgs {
            journal: Some(journal),
            ..
        }) => insights::prompt(&duet, &journal),
        // clap requires --journal when there is no subcommand.
        Command::Prompt(PromptArgs { journal: None, .. }) => Err(duet_core::Error::InvalidInput {
            field: "journal",
            reason: "give --journal J".into(),
        }),
        Command::Search {
            query,
            journal,
            limit,
        } => insights::search(&duet, &query, journal.as_deref(), limit),
        Command::History { id } => insights::history(&duet, &id),
        Command::Conflicts { id } => insights::conflicts(&duet, &id),
        Command::Bundle(BundleCommand::Export { journal, out }) => {
            exchange::bundle_export(&duet, &journal, &out)
        }
        Command::Bundle(BundleCommand::Import { file }) => exchange::bundle_import(&duet, &file),
        Command::Export {
            journal,
            format,
            out,
        } => exchange::export(rt, &duet, &journal, format, out.as_deref()),
    }
}

/// The command's name for logs (never its arguments: they may hold what someone wrote).
fn name_of(command: &Command) -> &'static str {
    match command {
        Command::Init { .. } => "init",
        Command::Journal(_) => "journal",
        Command::Entry(_) => "entry",
        Command::Attach { .. } => "attach",
        Command::Attachments { .. } => "attachments",
        Command::Attachment(_) => "attachment",
        Command::React { .. } => "react",
        Command::Reply { .. } => "reply",
        Command::Checkin(_) => "checkin",
        Command::Trends { .. } => "trends",
        Command::Prompt(_) => "prompt",
        Command::Search { .. } => "search",
        Command::History { .. } => "history",
        Command::Conflicts { .. } => "conflicts",
        Command::Share { .. } => "share",
        Command::Bundle(_) => "bundle",
        Command::Export { .. } => "export",
        Command::Whoami => "whoami",
        Command::Relay(_) => "relay",
        Command::Invite(_) => "invite",
        Command::Join { .. } => "join",
        Command::Device(_) => "device",
        Command::Sync => "sync",
        Command::Watch(_) => "watch",
        Command::Member(_) => "member",
        Command::Recovery(_) => "recovery",
        Command::Recover { .. } => "recover",
    }
}
