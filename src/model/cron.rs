//! Cron schedules (`0 1 * * 1-6`): parsed field by field, so validation can say which
//! field is out of range, and written as a systemd timer's `OnCalendar=` for the
//! machines that run compose (Kubernetes' CronJob takes the cron text as it is).

use std::collections::BTreeSet;
use std::fmt::Write;

/// The five fields, their names and ranges.
const FIELDS: [(&str, u32, u32); 5] = [
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
];

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// A parsed schedule: for each field the values it matches, or `None` for every one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    fields: [Option<BTreeSet<u32>>; 5],
}

impl Cron {
    /// Parses five space-separated fields of numbers, `*`, ranges (`1-5`), lists
    /// (`1,15`) and steps (`*/15`, `0-30/10`). Day of week 0 and 7 are Sunday. A
    /// schedule that restricts both the day of month and the day of week is refused:
    /// cron runs it on either, a systemd timer only on both.
    pub fn parse(text: &str) -> Result<Cron, String> {
        let parts: Vec<&str> = text.split(' ').collect();
        if parts.len() != 5 || parts.iter().any(|p| p.is_empty()) {
            return Err(format!(
                "`{text}` is not five fields separated by single spaces (minute hour day-of-month month day-of-week)"
            ));
        }
        let mut fields: [Option<BTreeSet<u32>>; 5] = Default::default();
        for (i, (part, (name, low, high))) in parts.iter().zip(FIELDS).enumerate() {
            fields[i] = field(part, low, high).map_err(|e| format!("{name} `{part}`: {e}"))?;
        }
        if let Some(days) = &mut fields[4] {
            if days.remove(&7) {
                days.insert(0);
            }
            if days.len() == 7 {
                fields[4] = None;
            }
        }
        if fields[2].is_some() && fields[4].is_some() {
            return Err(format!(
                "`{text}` restricts both the day of month and the day of week; cron runs it on either, so say one of them"
            ));
        }
        Ok(Cron { fields })
    }

    /// Whether the two schedules run at the same minute on some day.
    pub fn may_coincide(&self, other: &Cron) -> bool {
        let meet = |i: usize| match (&self.fields[i], &other.fields[i]) {
            (Some(a), Some(b)) => !a.is_disjoint(b),
            _ => true,
        };
        let days = match (
            (&self.fields[2], &self.fields[4]),
            (&other.fields[2], &other.fields[4]),
        ) {
            ((_, Some(a)), (_, Some(b))) => !a.is_disjoint(b),
            ((Some(a), _), (Some(b), _)) => !a.is_disjoint(b),
            _ => true,
        };
        meet(0) && meet(1) && meet(3) && days
    }

    /// The same schedule as a systemd calendar event, in UTC:
    /// `Mon,Tue *-*-* 01:00:00 UTC`.
    pub fn on_calendar(&self) -> String {
        let list = |i: usize, width: usize| match &self.fields[i] {
            None => "*".to_string(),
            Some(values) => values
                .iter()
                .map(|v| format!("{v:0width$}"))
                .collect::<Vec<_>>()
                .join(","),
        };
        let mut out = String::new();
        if let Some(days) = &self.fields[4] {
            let names: Vec<&str> = days.iter().map(|d| WEEKDAYS[*d as usize]).collect();
            let _ = write!(out, "{} ", names.join(","));
        }
        let _ = write!(
            out,
            "*-{}-{} {}:{}:00 UTC",
            list(3, 2),
            list(2, 2),
            list(1, 2),
            list(0, 2)
        );
        out
    }
}

/// The values one field matches, or `None` for all of them.
fn field(text: &str, low: u32, high: u32) -> Result<Option<BTreeSet<u32>>, String> {
    if text == "*" {
        return Ok(None);
    }
    let number = |s: &str| -> Result<u32, String> {
        let n: u32 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
        if n < low || n > high {
            return Err(format!("{n} is outside {low}-{high}"));
        }
        Ok(n)
    };
    let mut values = BTreeSet::new();
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("step `{s}` is not a positive number"))?;
                (r, step)
            }
            None => (item, 1),
        };
        let (from, to) = match range {
            "*" => (low, high),
            r => match r.split_once('-') {
                Some((a, b)) => (number(a)?, number(b)?),
                None if step > 1 => (number(r)?, high),
                None => {
                    let n = number(r)?;
                    (n, n)
                }
            },
        };
        if from > to {
            return Err(format!("the range {from}-{to} runs backwards"));
        }
        values.extend((from..=to).step_by(step as usize));
    }
    Ok(Some(values))
}

#[cfg(test)]
mod tests {
    use super::Cron;

    fn cal(text: &str) -> String {
        Cron::parse(text).unwrap().on_calendar()
    }

    #[test]
    fn schedules_become_systemd_calendar_events() {
        assert_eq!(cal("0 1 * * 0"), "Sun *-*-* 01:00:00 UTC");
        assert_eq!(cal("0 1 * * 7"), "Sun *-*-* 01:00:00 UTC");
        assert_eq!(
            cal("0 1 * * 1-6"),
            "Mon,Tue,Wed,Thu,Fri,Sat *-*-* 01:00:00 UTC"
        );
        assert_eq!(cal("30 2 * * *"), "*-*-* 02:30:00 UTC");
        assert_eq!(cal("*/15 * * * *"), "*-*-* *:00,15,30,45:00 UTC");
        assert_eq!(cal("0 0-12/6 1,15 * *"), "*-*-01,15 00,06,12:00:00 UTC");
        assert_eq!(cal("0 3 * 1-3 0-7"), "*-01,02,03-* 03:00:00 UTC");
        assert_eq!(cal("5 4 * * 1,5"), "Mon,Fri *-*-* 04:05:00 UTC");
    }

    #[test]
    fn schedules_that_share_a_minute_coincide() {
        let c = |t: &str| Cron::parse(t).unwrap();
        assert!(!c("0 1 * * 0").may_coincide(&c("0 1 * * 1-6")));
        assert!(c("0 1 * * 0").may_coincide(&c("0 1 * * *")));
        assert!(!c("0 1 * * 0").may_coincide(&c("30 1 * * *")));
        assert!(!c("30 2 1,15 * *").may_coincide(&c("30 2 2-14,16-31 * *")));
        assert!(c("30 2 1 * *").may_coincide(&c("30 2 * * 3")));
        assert!(!c("0 1 * 1 *").may_coincide(&c("0 1 * 2 *")));
    }

    #[test]
    fn out_of_range_and_ambiguous_schedules_are_refused() {
        for (text, says) in [
            ("0 24 * * *", "hour `24`: 24 is outside 0-23"),
            ("60 1 * * *", "minute `60`"),
            ("0 1 0 * *", "day of month `0`"),
            ("0 1 * 13 *", "month `13`"),
            ("0 1 * * 8", "day of week `8`"),
            ("0 1 1 * 1", "restricts both"),
            ("0 1 * *", "not five fields"),
            ("0  1 * * *", "not five fields"),
            ("*/0 1 * * *", "step `0`"),
            ("5-1 1 * * *", "runs backwards"),
            ("a 1 * * *", "`a` is not a number"),
        ] {
            let err = Cron::parse(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }
}
