//! HTML text for server-rendered pages.

/// `s` as HTML text or a quoted attribute value: `& < > " '` escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page's navigation links: `<a href="{base}{href}">{name}</a>` for each `(href, name)`,
/// the one named `active` with `class="active"`.
pub fn nav(base: &str, links: &[(&str, &str)], active: &str) -> String {
    links
        .iter()
        .map(|(href, name)| {
            let class = if *name == active {
                " class=\"active\""
            } else {
                ""
            };
            format!("<a{class} href=\"{base}{href}\">{name}</a>")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nav_marks_the_active_link() {
        assert_eq!(
            nav(
                "/app/",
                &[("jobs/", "Jobs"), ("stages/", "Stages")],
                "Stages"
            ),
            "<a href=\"/app/jobs/\">Jobs</a><a class=\"active\" href=\"/app/stages/\">Stages</a>"
        );
    }

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<a href=\"x\">Tom's & co</a>"),
            "&lt;a href=&quot;x&quot;&gt;Tom&#39;s &amp; co&lt;/a&gt;"
        );
        assert_eq!(escape("plain ü"), "plain ü");
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
