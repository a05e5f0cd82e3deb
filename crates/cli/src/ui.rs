//! Terminal output: live progress bars (indicatif) while runs go, plain tables after.
//!
//! Bars are drawn on stderr and only on a terminal, so piped or `--json` output stays
//! exactly what the command prints on stdout.

use std::io::IsTerminal as _;
use std::time::Duration;

use backfill_store::{Progress, RunStatus};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use unicode_width::UnicodeWidthStr as _;

/// One bar per run.
pub struct Bars {
    multi: MultiProgress,
    style: ProgressStyle,
}

impl std::fmt::Debug for Bars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bars").finish_non_exhaustive()
    }
}

impl Bars {
    /// Bars that draw only when stderr is a terminal and `quiet` is false.
    pub fn new(quiet: bool) -> Self {
        let target = if !quiet && std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let style = ProgressStyle::with_template(
            "{prefix:<32} {bar:28.cyan/blue} {pos:>4}/{len:<4} steps  {msg}",
        )
        .expect("a valid progress template")
        .progress_chars("━╸─");
        Self {
            multi: MultiProgress::with_draw_target(target),
            style,
        }
    }

    pub fn add(&self, label: &str) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new(1));
        bar.set_style(self.style.clone());
        bar.set_prefix(label.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }
}

/// Shows where a run stands on its bar: steps done of all known so far (the total grows
/// as listings reveal more), and what is stored.
pub fn show(bar: &ProgressBar, progress: &Progress) {
    let steps = &progress.steps;
    bar.set_length(steps.total().max(1));
    bar.set_position(steps.done + steps.failed + steps.cancelled);
    let stored = &progress.stored;
    let mut message = format!(
        "{} conversations · {} messages · {} comments",
        stored.conversations, stored.messages, stored.comments
    );
    if progress.deferred > 0 {
        message.push_str(&format!(" · {} waiting", progress.deferred));
    }
    if progress.status != RunStatus::Running {
        message.push_str(&format!(" · {}", progress.status));
        bar.set_message(message);
        bar.finish();
    } else {
        bar.set_message(message);
    }
}

/// A plain table: a header, a rule, rows; numbers right-aligned. Widths are display
/// columns, so names in CJK scripts line up.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|row| row[i].width())
                .chain([header[i].width()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let numeric: Vec<bool> = (0..header.len())
        .map(|i| {
            !rows.is_empty()
                && rows.iter().all(|row| {
                    let cell = row[i].trim_end_matches(" s");
                    cell == "—" || cell.replace(',', "").parse::<f64>().is_ok()
                })
        })
        .collect();
    let line = |cells: Vec<&str>| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                let pad = widths[i].saturating_sub(cell.width());
                if numeric[i] {
                    format!("{}{cell}", " ".repeat(pad))
                } else {
                    format!("{cell}{}", " ".repeat(pad))
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    out.push_str(
        &widths
            .iter()
            .map(|w| "─".repeat(*w))
            .collect::<Vec<_>>()
            .join("  "),
    );
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// `12,345`.
pub fn thousands(n: impl Into<i128>) -> String {
    let digits = n.into().to_string();
    let (sign, digits) = digits
        .strip_prefix('-')
        .map_or(("", digits.as_str()), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

/// `4.2 s`, or `—` when it did not happen.
pub fn seconds(duration: Option<chrono::TimeDelta>) -> String {
    duration.map_or_else(
        || "—".to_owned(),
        |d| format!("{:.1} s", d.num_milliseconds() as f64 / 1000.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_get_separators_and_tables_align() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(-1000), "-1,000");
        let out = table(
            &["name", "n"],
            &[
                vec!["a".into(), "5".into()],
                vec!["bbb".into(), "1,000".into()],
            ],
        );
        assert_eq!(out, "name      n\n────  ─────\na         5\nbbb   1,000");
    }
}
