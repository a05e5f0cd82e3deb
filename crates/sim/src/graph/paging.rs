//! Graph cursor paging [M5]: `{data, paging:{cursors:{before,after}, next?, previous?}}`,
//! with the quirks a client must survive: `next` is the only end-of-list signal, a page
//! may hold fewer items than `limit` although more follow, and a page may be empty yet
//! still carry `next`.
//!
//! A cursor names a boundary between two items of one edge of one object (and is refused
//! on any other edge). The data does not change while the simulator runs, so a position is
//! a stable boundary. A cursor also carries a "hop" count: an empty page's `next` points at
//! the same boundary with the hop raised, so the following request serves items and a
//! client that follows `next` always progresses.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::mix::Mix;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub pos: usize,
    pub hop: u32,
}

/// The cursors of one edge of one object.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Edge {
    tag: u64,
    quirks: Mix,
}

/// Which items one page serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub start: usize,
    pub end: usize,
    /// Hop of the `after` cursor: raised past an injected empty page.
    pub after_hop: u32,
    pub has_next: bool,
}

/// What the client asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageRequest {
    pub limit: usize,
    pub after: Option<Cursor>,
    pub before: Option<Cursor>,
}

/// How often pages come back empty or short (`GraphSettings`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Quirks {
    pub empty_rate: f64,
    pub short_rate: f64,
}

impl Edge {
    /// `seed` keeps cursors of different simulators apart; `edge` and `object` name the list.
    pub(crate) fn new(seed: u64, edge: &str, object: &str) -> Self {
        let mix = Mix::new(seed)
            .with_str("cursor")
            .with_str(edge)
            .with_str(object);
        Edge {
            tag: mix.value() & 0xFFFF_FFFF,
            quirks: mix.with_str("quirks"),
        }
    }

    pub(crate) fn encode(&self, cursor: Cursor) -> String {
        URL_SAFE_NO_PAD.encode(format!("{:08x}:{}:{}", self.tag, cursor.pos, cursor.hop))
    }

    pub(crate) fn decode(&self, text: &str) -> Option<Cursor> {
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
        let mut parts = raw.split(':');
        let tag = u64::from_str_radix(parts.next()?, 16).ok()?;
        let pos = parts.next()?.parse().ok()?;
        let hop = parts.next()?.parse().ok()?;
        (tag == self.tag && parts.next().is_none()).then_some(Cursor { pos, hop })
    }

    /// The items `start..end` of `total` that one request serves.
    pub(crate) fn window(&self, total: usize, request: PageRequest, quirks: Quirks) -> Window {
        if let Some(before) = request.before {
            let end = before.pos.min(total);
            return Window {
                start: end.saturating_sub(request.limit),
                end,
                after_hop: 0,
                has_next: end < total,
            };
        }
        let (start, hop) = request.after.map_or((0, 0), |c| (c.pos.min(total), c.hop));
        if request.limit == 0 {
            return Window {
                start,
                end: start,
                after_hop: 0,
                has_next: false,
            };
        }
        let at = self.quirks.with(start as u64);
        if start > 0 && start < total && hop == 0 && at.with_str("empty").chance(quirks.empty_rate)
        {
            return Window {
                start,
                end: start,
                after_hop: hop + 1,
                has_next: true,
            };
        }
        let mut end = (start + request.limit).min(total);
        if end < total && request.limit >= 2 && at.with_str("short").chance(quirks.short_rate) {
            end = start + 1 + at.with_str("short-len").below(request.limit as u64 - 1) as usize;
        }
        Window {
            start,
            end,
            after_hop: 0,
            has_next: end < total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(total: usize, limit: usize, quirks: Quirks) -> (Vec<usize>, usize, usize) {
        let edge = Edge::new(1, "messages", "t_1");
        let mut seen = Vec::new();
        let mut after = None;
        let (mut pages, mut empty) = (0, 0);
        loop {
            let w = edge.window(
                total,
                PageRequest {
                    limit,
                    after,
                    before: None,
                },
                quirks,
            );
            pages += 1;
            if w.start == w.end {
                empty += 1;
            }
            assert!(w.end - w.start <= limit);
            seen.extend(w.start..w.end);
            if !w.has_next {
                return (seen, pages, empty);
            }
            let cursor = edge.encode(Cursor {
                pos: w.end,
                hop: w.after_hop,
            });
            after = Some(edge.decode(&cursor).unwrap());
        }
    }

    #[test]
    fn following_after_visits_every_item_once_despite_empty_and_short_pages() {
        let quirks = Quirks {
            empty_rate: 0.3,
            short_rate: 0.3,
        };
        let (seen, pages, empty) = walk(1000, 25, quirks);
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
        assert!(empty > 0, "some pages are empty");
        assert!(pages > 40 + empty, "some pages are short");
        let (seen, _, empty) = walk(
            1000,
            25,
            Quirks {
                empty_rate: 0.0,
                short_rate: 0.0,
            },
        );
        assert_eq!((seen.len(), empty), (1000, 0));
    }

    #[test]
    fn cursors_of_another_edge_are_refused() {
        let a = Edge::new(1, "messages", "t_1");
        let b = Edge::new(1, "messages", "t_2");
        let cursor = a.encode(Cursor { pos: 5, hop: 0 });
        assert_eq!(a.decode(&cursor), Some(Cursor { pos: 5, hop: 0 }));
        assert_eq!(b.decode(&cursor), None);
        assert_eq!(a.decode("garbage"), None);
    }

    #[test]
    fn before_pages_backwards() {
        let edge = Edge::new(1, "feed", "p");
        let quirks = Quirks {
            empty_rate: 0.0,
            short_rate: 0.0,
        };
        let w = edge.window(
            100,
            PageRequest {
                limit: 25,
                after: None,
                before: Some(Cursor { pos: 60, hop: 0 }),
            },
            quirks,
        );
        assert_eq!((w.start, w.end, w.has_next), (35, 60, true));
    }
}
