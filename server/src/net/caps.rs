//! Connection caps: in all and per client address, with a slot that frees itself on drop.

#[allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------------------
// Connection caps
// ---------------------------------------------------------------------------------------

#[derive(Debug, Default)]
pub(super) struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Open connections, in all and per client address.
#[derive(Debug)]
pub struct Tracker {
    counts: Mutex<Counts>,
    max_total: usize,
    max_per_ip: usize,
    metrics: Option<Arc<AppState>>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    Total,
    PerIp,
}

/// A connection's place in the counts, given back when it is dropped (with the connection's
/// socket: for a WebSocket, when the live channel ends).
#[derive(Debug)]
pub struct Slot {
    tracker: Arc<Tracker>,
    ip: Option<IpAddr>,
}

impl Tracker {
    pub fn new(max_total: usize, max_per_ip: usize, state: Option<Arc<AppState>>) -> Arc<Self> {
        Arc::new(Tracker {
            counts: Mutex::new(Counts::default()),
            max_total,
            max_per_ip,
            metrics: state,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take a place for a connection from `ip` (`exempt`: not capped per address, e.g. a
    /// trusted proxy), or say which cap is full.
    pub fn admit(self: &Arc<Self>, ip: IpAddr, exempt: bool) -> Result<Slot, Full> {
        let mut c = self.lock();
        if c.total >= self.max_total {
            return Err(Full::Total);
        }
        let capped = self.max_per_ip > 0 && !exempt;
        if capped {
            let n = c.per_ip.entry(ip).or_insert(0);
            if *n >= self.max_per_ip {
                return Err(Full::PerIp);
            }
            *n += 1;
        }
        c.total += 1;
        drop(c);
        if let Some(s) = &self.metrics {
            s.metrics.connections_open.inc();
        }
        Ok(Slot {
            tracker: self.clone(),
            ip: capped.then_some(ip),
        })
    }

    /// Open connections now.
    pub fn open(&self) -> usize {
        self.lock().total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.tracker.lock();
        c.total = c.total.saturating_sub(1);
        if let Some(ip) = self.ip
            && let Some(n) = c.per_ip.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                c.per_ip.remove(&ip);
            }
        }
        drop(c);
        if let Some(s) = &self.tracker.metrics {
            s.metrics.connections_open.dec();
        }
    }
}
