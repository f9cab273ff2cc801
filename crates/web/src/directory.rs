//! The public directory: an in-memory trigram index over the names of the
//! institutions the public search lists. A search starts from the query's
//! rarest trigram and checks only its few candidates, so names that share
//! common words ("医院", "hospital") do not make every search scan.
//!
//! The index is rebuilt from the read models when the store's write
//! generation moves (a write in this process; the search waits, so writers
//! read their own writes), and refreshed in the background when it is older
//! than [`MAX_AGE`] (writes by other processes on a shared PostgreSQL).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use celltrail_store::error::StoreResult;
use celltrail_store::{DynStore, OrgFilter, Organisation, Store};

/// The longest a snapshot serves before it is rebuilt.
pub const MAX_AGE: Duration = Duration::from_secs(5);

struct Snapshot {
    generation: u64,
    built: Instant,
    /// Sorted as the database sorts search results.
    orgs: Vec<Organisation>,
    texts: Vec<String>,
    grams: HashMap<[char; 3], Vec<u32>>,
}

#[derive(Default)]
pub struct Directory {
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    /// Serialises rebuilds.
    rebuilding: Arc<tokio::sync::Mutex<()>>,
}

fn trigrams(text: &str) -> Vec<[char; 3]> {
    let chars: Vec<char> = text.chars().collect();
    chars.windows(3).map(|w| [w[0], w[1], w[2]]).collect()
}

impl Directory {
    fn latest(&self) -> Option<Arc<Snapshot>> {
        self.snapshot.read().ok()?.clone()
    }

    async fn snapshot(
        self: &Arc<Self>,
        store: &DynStore,
        public_types: &'static [&'static str],
    ) -> StoreResult<Arc<Snapshot>> {
        let generation = store.generation();
        if let Some(snap) = self.latest().filter(|s| s.generation == generation) {
            if snap.built.elapsed() >= MAX_AGE {
                // Only old, not outdated by a write here: serve it while one
                // task refreshes it for writes other processes made.
                if let Ok(guard) = self.rebuilding.clone().try_lock_owned() {
                    let (dir, store) = (self.clone(), store.clone());
                    tokio::spawn(async move {
                        let _guard = guard;
                        let _ = dir.rebuild(store.as_ref(), public_types).await;
                    });
                }
            }
            return Ok(snap);
        }
        // First use, or a write in this process: wait, so readers see their
        // own writes.
        let _one = self.rebuilding.lock().await;
        if let Some(snap) = self.latest().filter(|s| s.generation == store.generation()) {
            return Ok(snap);
        }
        self.rebuild(store.as_ref(), public_types).await
    }

    async fn rebuild(
        &self,
        store: &dyn Store,
        public_types: &[&str],
    ) -> StoreResult<Arc<Snapshot>> {
        let generation = store.generation();
        let mut orgs: Vec<Organisation> = store
            .organisations(&OrgFilter {
                limit: Some(u32::MAX),
                ..Default::default()
            })
            .await?
            .into_iter()
            .filter(|o| o.active && public_types.contains(&o.org_type.as_str()))
            .collect();
        orgs.sort_by(|a, b| {
            (&a.province_code, &a.name_en, &a.id).cmp(&(&b.province_code, &b.name_en, &b.id))
        });
        let texts: Vec<String> = orgs
            .iter()
            .map(|o| format!("{} {}", o.name_zh, o.name_en).to_lowercase())
            .collect();
        let mut grams: HashMap<[char; 3], Vec<u32>> = HashMap::new();
        for (i, t) in texts.iter().enumerate() {
            let mut seen = trigrams(t);
            seen.sort_unstable();
            seen.dedup();
            for g in seen {
                grams.entry(g).or_default().push(i as u32);
            }
        }
        let snap = Arc::new(Snapshot {
            generation,
            built: Instant::now(),
            orgs,
            texts,
            grams,
        });
        if let Ok(mut w) = self.snapshot.write() {
            *w = Some(snap.clone());
        }
        Ok(snap)
    }

    /// Builds the index ahead of the first search (server start-up).
    pub async fn warm(
        self: &Arc<Self>,
        store: &DynStore,
        public_types: &'static [&'static str],
    ) -> StoreResult<()> {
        self.snapshot(store, public_types).await.map(|_| ())
    }

    /// Institutions whose Chinese or English name contains `q`
    /// (case-insensitive), in the database's order, at most `limit`.
    /// Queries shorter than three characters scan the directory.
    pub async fn search(
        self: &Arc<Self>,
        store: &DynStore,
        public_types: &'static [&'static str],
        q: &str,
        province: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Organisation>> {
        let snap = self.snapshot(store, public_types).await?;
        let q = q.trim().to_lowercase();
        let wanted = |i: usize| {
            snap.texts[i].contains(&q) && province.is_none_or(|p| snap.orgs[i].province_code == p)
        };
        let grams = trigrams(&q);
        let mut hits: Vec<usize> = if grams.is_empty() {
            (0..snap.orgs.len()).filter(|i| wanted(*i)).collect()
        } else {
            let mut rarest: Option<&Vec<u32>> = None;
            for g in &grams {
                match snap.grams.get(g) {
                    None => return Ok(Vec::new()),
                    Some(list) if rarest.is_none_or(|r| list.len() < r.len()) => {
                        rarest = Some(list)
                    }
                    Some(_) => {}
                }
            }
            rarest
                .map(|l| {
                    l.iter()
                        .map(|i| *i as usize)
                        .filter(|i| wanted(*i))
                        .collect()
                })
                .unwrap_or_default()
        };
        hits.truncate(limit);
        Ok(hits.into_iter().map(|i| snap.orgs[i].clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigrams_are_character_windows() {
        assert_eq!(
            trigrams("华东医院"),
            vec![['华', '东', '医'], ['东', '医', '院']]
        );
        assert!(trigrams("ab").is_empty());
    }
}
