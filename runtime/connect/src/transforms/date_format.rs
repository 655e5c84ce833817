//! The part of Java's `SimpleDateFormat` that `TimestampRouter`'s `timestamp.format` uses,
//! always in UTC (Kafka's TimestampRouter sets the UTC time zone too).
//!
//! Letters: `y` year (`yy`: its last two digits), `M` month, `d` day, `H` hour 0–23, `m`
//! minute, `s` second, `S` millisecond; a run of n letters pads the number to n digits,
//! as Java does. Text in single quotes is copied (`''` is one quote), and so is every
//! character that is not an ASCII letter. Other letters (`E`, `a`, `z`, `MMM`…) are
//! refused when the configuration is validated, never printed wrongly. Dates are
//! proleptic Gregorian (Java switches to the Julian calendar before 1582).

/// One date field a pattern letter stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Milli,
}

/// A piece of a parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Copied as is.
    Literal(String),
    /// A field, padded to `width` digits.
    Field { field: Field, width: usize },
}

/// A parsed `timestamp.format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DateFormat {
    parts: Vec<Part>,
}

impl DateFormat {
    /// Parses a `SimpleDateFormat` pattern; `Err` names what is not supported.
    pub(super) fn parse(pattern: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' {
                let text = quoted(&mut chars)?;
                push_literal(&mut parts, &text);
            } else if c.is_ascii_alphabetic() {
                let mut width = 1;
                while chars.next_if_eq(&c).is_some() {
                    width += 1;
                }
                let field = match c {
                    'y' => Field::Year,
                    'M' if width > 2 => {
                        return Err("month names (`MMM`) are not supported: use `MM`".to_owned())
                    }
                    'M' => Field::Month,
                    'd' => Field::Day,
                    'H' => Field::Hour,
                    'm' => Field::Minute,
                    's' => Field::Second,
                    'S' => Field::Milli,
                    other => {
                        return Err(format!(
                            "the pattern letter `{other}` is not supported: use y, M, d, H, m, s \
                             and S, and quote text ('T')"
                        ))
                    }
                };
                parts.push(Part::Field { field, width });
            } else {
                push_literal(&mut parts, &c.to_string());
            }
        }
        Ok(Self { parts })
    }

    /// The text copied as is, for checking that it may appear in a topic name.
    pub(super) fn literals(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Literal(text) => Some(text.as_str()),
            Part::Field { .. } => None,
        })
    }

    /// Formats `timestamp_ms` (ms since the epoch) in UTC.
    pub(super) fn format(&self, timestamp_ms: i64) -> String {
        let days = timestamp_ms.div_euclid(MS_PER_DAY);
        let ms_of_day = timestamp_ms.rem_euclid(MS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Field { field, width } => {
                    let value = match field {
                        Field::Year if *width == 2 => year.rem_euclid(100),
                        Field::Year => year,
                        Field::Month => i64::from(month),
                        Field::Day => i64::from(day),
                        Field::Hour => ms_of_day / 3_600_000,
                        Field::Minute => ms_of_day / 60_000 % 60,
                        Field::Second => ms_of_day / 1_000 % 60,
                        Field::Milli => ms_of_day % 1_000,
                    };
                    out.push_str(&format!("{value:0width$}"));
                }
            }
        }
        out
    }
}

const MS_PER_DAY: i64 = 86_400_000;

/// Reads quoted text after an opening quote up to its closing one; `''` inside is a quote.
fn quoted(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<String, String> {
    let mut text = String::new();
    if chars.next_if_eq(&'\'').is_some() {
        // `''` outside quotes: one quote.
        return Ok("'".to_owned());
    }
    loop {
        match chars.next() {
            None => return Err("a quote (') is not closed".to_owned()),
            Some('\'') if chars.next_if_eq(&'\'').is_some() => text.push('\''),
            Some('\'') => return Ok(text),
            Some(c) => text.push(c),
        }
    }
}

fn push_literal(parts: &mut Vec<Part>, text: &str) {
    if let Some(Part::Literal(last)) = parts.last_mut() {
        last.push_str(text);
    } else {
        parts.push(Part::Literal(text.to_owned()));
    }
}

/// Year, month (1–12) and day (1–31) of a day number counted from 1970-01-01, in the
/// proleptic Gregorian calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Both are in range by construction: day 1..=31, month 1..=12.
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(pattern: &str, timestamp_ms: i64) -> String {
        DateFormat::parse(pattern).unwrap().format(timestamp_ms)
    }

    #[test]
    fn kafkas_default_pattern() {
        assert_eq!(format("yyyyMMdd", 0), "19700101");
        assert_eq!(format("yyyyMMdd", 1_700_000_000_000), "20231114");
    }

    #[test]
    fn every_letter() {
        let pattern = "yyyy-MM-dd HH:mm:ss.SSS";
        assert_eq!(
            format(pattern, 1_700_000_000_000),
            "2023-11-14 22:13:20.000"
        );
        assert_eq!(
            format(pattern, 1_709_251_199_999),
            "2024-02-29 23:59:59.999"
        );
        assert_eq!(format(pattern, 951_782_400_000), "2000-02-29 00:00:00.000");
        assert_eq!(
            format(pattern, 253_402_300_799_999),
            "9999-12-31 23:59:59.999"
        );
    }

    #[test]
    fn widths_pad_like_java() {
        assert_eq!(format("yy", 1_700_000_000_000), "23");
        assert_eq!(format("y", 1_700_000_000_000), "2023");
        assert_eq!(format("M/d H:m:s S", 0), "1/1 0:0:0 0");
        assert_eq!(format("MM/dd HH:mm", 0), "01/01 00:00");
        assert_eq!(format("SSSS", 5), "0005");
    }

    #[test]
    fn before_the_epoch() {
        assert_eq!(format("yyyyMMdd HHmmss.SSS", -1), "19691231 235959.999");
        assert_eq!(format("yyyy-MM-dd", -86_400_000 * 365), "1969-01-01");
    }

    #[test]
    fn quotes_and_other_characters_are_copied() {
        assert_eq!(
            format("yyyy-MM-dd'T'HH'h'", 1_700_000_000_000),
            "2023-11-14T22h"
        );
        assert_eq!(format("'it''s' yy", 0), "it's 70");
        assert_eq!(format("''yy''", 0), "'70'");
        assert_eq!(format("yyyy_MM.dd-", 0), "1970_01.01-");
        let parsed = DateFormat::parse("yyyy'T'_MM").unwrap();
        assert_eq!(parsed.literals().collect::<Vec<_>>(), ["T_"]);
    }

    #[test]
    fn unsupported_patterns_are_refused() {
        for bad in ["yyyy-MMM", "EEE", "hh:mm a", "yyyyMMdd z", "'open"] {
            assert!(DateFormat::parse(bad).is_err(), "{bad} accepted");
        }
        let reason = DateFormat::parse("yyyyMMdd E").unwrap_err();
        assert!(reason.contains("`E`"), "{reason}");
    }
}
