//! The spark-defaults.conf file format (`java.util.Properties` syntax).

use std::collections::BTreeMap;

/// Parses the text of a spark-defaults.conf-format file: `java.util.Properties` syntax (the
/// key ends at the first unescaped `=`, `:` or whitespace; `#` and `!` start comment lines; a
/// trailing `\` continues the line; `\t`, `\n`, `\uXXXX` escapes), values trimmed as Spark
/// does. Later occurrences of a key win.
pub fn parse_properties(text: &str) -> Result<BTreeMap<String, String>, String> {
    fn is_ws(c: char) -> bool {
        matches!(c, ' ' | '\t' | '\x0c')
    }
    fn odd_trailing_backslashes(s: &str) -> bool {
        s.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
    }
    let mut out = BTreeMap::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, raw)) = lines.next() {
        let line_no = index + 1;
        let first = raw.trim_start_matches(is_ws);
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = String::new();
        let mut cur = first;
        loop {
            if odd_trailing_backslashes(cur) {
                logical.push_str(&cur[..cur.len() - 1]);
                match lines.next() {
                    Some((_, next)) => cur = next.trim_start_matches(is_ws),
                    None => break,
                }
            } else {
                logical.push_str(cur);
                break;
            }
        }
        let chars: Vec<char> = logical.chars().collect();
        let mut key_end = chars.len();
        let mut value_start = chars.len();
        let mut has_sep = false;
        let mut escaped = false;
        for (i, &c) in chars.iter().enumerate() {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '=' || c == ':' {
                key_end = i;
                value_start = i + 1;
                has_sep = true;
                break;
            } else if is_ws(c) {
                key_end = i;
                value_start = i + 1;
                break;
            }
        }
        while value_start < chars.len() {
            let c = chars[value_start];
            if !is_ws(c) {
                if !has_sep && (c == '=' || c == ':') {
                    has_sep = true;
                } else {
                    break;
                }
            }
            value_start += 1;
        }
        let key = unescape(&chars[..key_end]).map_err(|e| format!("line {line_no}: {e}"))?;
        let value = unescape(&chars[value_start..]).map_err(|e| format!("line {line_no}: {e}"))?;
        out.insert(key, value.trim().to_owned());
    }
    Ok(out)
}

/// `java.util.Properties.loadConvert`.
fn unescape(chars: &[char]) -> Result<String, String> {
    let mut out = String::with_capacity(chars.len());
    let mut i = 0;
    let mut pending_high: Option<u32> = None;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = chars.get(i) else { break };
        i += 1;
        match e {
            'u' => {
                let hex: String = chars.get(i..i + 4).unwrap_or_default().iter().collect();
                let code = (hex.len() == 4)
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .ok_or_else(|| "malformed \\uxxxx encoding".to_owned())?;
                i += 4;
                if (0xD800..0xDC00).contains(&code) {
                    pending_high = Some(code);
                    continue;
                }
                let code = match pending_high.take() {
                    Some(high) if (0xDC00..0xE000).contains(&code) => {
                        0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00)
                    }
                    _ => code,
                };
                out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            't' => out.push('\t'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            'f' => out.push('\x0c'),
            other => out.push(other),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_file_format() {
        let text = "\
# a comment
   ! another comment

spark.executor.memory   2g
spark.executor.cores=4
spark.app.name : my app  \n\
spark.yarn.queue\tprod
spark.a.b = x=y
spark.empty
spark.cont = one, \\
    two
spark.esc\\ aped = tab\\there \\u0041
  spark.indented 1
spark.executor.cores 5
";
        let p = parse_properties(text).unwrap();
        assert_eq!(p["spark.executor.memory"], "2g");
        assert_eq!(p["spark.executor.cores"], "5", "later wins");
        assert_eq!(p["spark.app.name"], "my app");
        assert_eq!(p["spark.yarn.queue"], "prod");
        assert_eq!(p["spark.a.b"], "x=y");
        assert_eq!(p["spark.empty"], "");
        assert_eq!(p["spark.cont"], "one, two");
        assert_eq!(p["spark.esc aped"], "tab\there A");
        assert_eq!(p["spark.indented"], "1");
        assert!(!p.keys().any(|k| k.contains("comment")));
        assert_eq!(p.len(), 9);
        assert!(parse_properties("spark.x \\u00zz").is_err());
        // CRLF files.
        let p = parse_properties("spark.a 1\r\nspark.b=2\r\n").unwrap();
        assert_eq!(p["spark.a"], "1");
        assert_eq!(p["spark.b"], "2");
    }
}
