//! Record timestamps: RFC 3339 text <-> UTC milliseconds, and calendar days, without chrono
//! on the hot path. Every record's timestamp passes through here on ingest and on write, so
//! the stored UTC form (`YYYY-MM-DDTHH:MM:SS.fffZ`) is read by hand and everything else goes
//! to chrono; both agree (tested below).

/// Milliseconds since the Unix epoch of an RFC 3339 time; fast for the stored UTC form
/// (`YYYY-MM-DDTHH:MM:SS[.fff]Z`), chrono for anything else. None when it is not a valid
/// time (a month without that day included).
pub fn parse_timestamp_ms(ts: &str) -> Option<i64> {
    let b = ts.as_bytes();
    let utc_form = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[b.len() - 1] == b'Z'
        && (b.len() == 20 || (b[19] == b'.' && b.len() <= 30));
    if !utc_form {
        return chrono::DateTime::parse_from_rfc3339(ts.trim())
            .ok()
            .map(|t| t.timestamp_millis());
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut millis = 0i64;
    if b.len() > 20 {
        let frac = &b[20..b.len() - 1];
        if frac.is_empty() || !frac.iter().all(u8::is_ascii_digit) {
            return None;
        }
        for (i, &c) in frac.iter().take(3).enumerate() {
            millis += i64::from(c - b'0') * [100, 10, 1][i];
        }
    }
    Some(days_from_civil(y, m, d) * 86_400_000 + ((hh * 60 + mm) * 60 + ss) * 1000 + millis)
}

/// The milliseconds of `ts` when it is already in the stored form, exactly
/// `YYYY-MM-DDTHH:MM:SS.fffZ` (no leap second): then normalizing it changes nothing.
pub fn canonical_ms(ts: &str) -> Option<i64> {
    let b = ts.as_bytes();
    if b.len() != 24 || b[19] != b'.' || &b[17..19] == b"60" {
        return None;
    }
    parse_timestamp_ms(ts)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` of a day number (days since 1970-01-01).
pub fn day_name(day: i64) -> String {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// RFC 3339 (UTC, milliseconds) of a millisecond timestamp, the form reports show.
pub fn format_timestamp_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_like_chrono_and_days_round_trip() {
        for ts in [
            "2026-01-01T00:00:00.000Z",
            "2024-02-29T23:59:59.999Z",
            "1999-12-31T12:34:56Z",
            "2026-03-01T10:00:00.5Z",
            "2026-03-01T10:00:00+02:00",
        ] {
            let want = chrono::DateTime::parse_from_rfc3339(ts)
                .unwrap()
                .timestamp_millis();
            assert_eq!(parse_timestamp_ms(ts), Some(want), "{ts}");
        }
        for bad in [
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00.000Z",
            "2026-04-31T00:00:00.000Z",
            "2026-01-00T00:00:00.000Z",
        ] {
            assert_eq!(parse_timestamp_ms(bad), None, "{bad}");
            assert!(chrono::DateTime::parse_from_rfc3339(bad).is_err(), "{bad}");
        }
        for day in [-1000, 0, 1, 19_000, 20_454, 60_000] {
            let name = day_name(day);
            let (y, m, d) = (
                name[0..4].parse().unwrap(),
                name[5..7].parse().unwrap(),
                name[8..10].parse().unwrap(),
            );
            assert_eq!(days_from_civil(y, m, d), day, "{name}");
        }
        assert_eq!(day_name(20_454), "2026-01-01");
    }

    #[test]
    fn the_canonical_form_is_only_the_stored_one() {
        let ts = "2026-01-01T12:00:05.075Z";
        let norm = chrono::DateTime::parse_from_rfc3339(ts)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        assert_eq!(norm, ts);
        assert_eq!(canonical_ms(ts), parse_timestamp_ms(ts));
        for other in [
            "2026-01-01T12:00:05Z",
            "2026-01-01T12:00:05.07Z",
            "2026-01-01T12:00:05.075+00:00",
            "2026-01-01T23:59:60.000Z",
            "2026-02-30T12:00:05.075Z",
        ] {
            assert_eq!(canonical_ms(other), None, "{other}");
        }
    }
}
