//! Where a keystroke's time goes, hop by hop (`roam_hops`): a node of its
//! own, with `cat`, whose processes (the node, the holder, `roam attach`)
//! note each hop's time; keystrokes typed as in `latency`, each given the
//! window from its typing to its echo; every hop noted in a window counts
//! for that keystroke. Run apart from the other measurements, since noting
//! costs a write per hop.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use roam_bench::node::{self, Bins, Node};
use roam_bench::wait;
use roam_hops::Hop;

/// The median time from each hop to the next, starting at the
/// benchmark's typing of the key and ending at its seeing of the echo.
#[derive(Debug)]
pub struct Breakdown {
    /// (from, to, median), in the path's order; only pairs seen in most
    /// keystrokes.
    pub steps: Vec<(String, String, Duration)>,
    /// Keystrokes measured, and the median of their whole round trip.
    pub samples: usize,
    pub total: Duration,
}

pub fn measure(bins: &Bins, root: &Path, repo: &Path, marker: &str) -> anyhow::Result<Breakdown> {
    let marks = root.join("hops");
    std::fs::create_dir_all(&marks)?;
    let node = Node::start_with_env(
        bins.clone(),
        &root.join("hops-node"),
        &node::profile_config("cat", &["cat"]),
        vec![(roam_hops::DIR, marks.clone().into_os_string())],
    )?;
    let repo = repo.to_str().context("repo path is not UTF-8")?;
    node.roam(&["new", "hops", "--repo", repo, "--agent", "cat"])?;
    node.roam(&["send", "hops", marker])?;
    wait::poll(
        "cat to echo the ready line",
        Duration::from_millis(50),
        || Ok(node.roam(&["logs", "hops"])?.contains(marker).then_some(())),
    )?;
    let mut term = node.attach("hops", root)?;
    term.settle(marker)?;

    let windows: Vec<(u64, u64)> = crate::latency::timed_keystrokes(&mut term)?
        .into_iter()
        .map(|(typed, took)| (typed, typed + took.as_nanos() as u64))
        .collect();
    term.detach()?;
    drop(node);
    Ok(breakdown(&read_marks(&marks)?, &windows))
}

/// Every hop noted, by any process, in time order.
fn read_marks(dir: &Path) -> anyhow::Result<Vec<(u64, Hop)>> {
    let mut marks = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let text = std::fs::read_to_string(entry?.path())?;
        for line in text.lines() {
            let mut words = line.split_whitespace();
            let hop = words
                .next()
                .and_then(|w| w.parse().ok())
                .and_then(Hop::from_id);
            let at = words.next().and_then(|w| w.parse::<u64>().ok());
            if let (Some(hop), Some(at)) = (hop, at) {
                marks.push((at, hop));
            }
        }
    }
    marks.sort_unstable_by_key(|(at, _)| *at);
    Ok(marks)
}

fn breakdown(marks: &[(u64, Hop)], windows: &[(u64, u64)]) -> Breakdown {
    const TYPED: &str = "benchmark typed the key";
    const SEEN: &str = "benchmark saw the echo";
    let mut steps: HashMap<(String, String), Vec<Duration>> = HashMap::new();
    let mut order: Vec<(String, String)> = Vec::new();
    let mut totals = Vec::new();
    for &(start, end) in windows {
        totals.push(Duration::from_nanos(end - start));
        // The first time each hop was passed in this window, in the path's
        // order (a hop passed twice, say output split in two frames,
        // counts once).
        let mut path = vec![(TYPED.to_owned(), start)];
        for hop in Hop::ALL {
            let first = marks
                .iter()
                .find(|(at, h)| *h == hop && (start..=end).contains(at));
            if let Some((at, _)) = first {
                path.push((format!("{hop:?}"), *at));
            }
        }
        path.push((SEEN.to_owned(), end));
        for pair in path.windows(2) {
            let key = (pair[0].0.clone(), pair[1].0.clone());
            if !steps.contains_key(&key) {
                order.push(key.clone());
            }
            steps
                .entry(key)
                .or_default()
                .push(Duration::from_nanos(pair[1].1.saturating_sub(pair[0].1)));
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or_default()
    };
    let steps = order
        .into_iter()
        .filter_map(|key| {
            let mut times = steps.remove(&key)?;
            // A pair seen in few keystrokes is a hop missing from them.
            (times.len() * 2 > windows.len()).then(|| (key.0, key.1, median(&mut times)))
        })
        .collect();
    Breakdown {
        steps,
        samples: windows.len(),
        total: median(&mut totals),
    }
}
