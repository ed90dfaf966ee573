//! Left-aligned text tables with two spaces between columns.

pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, c) in cells.enumerate().take(cols) {
            if i + 1 < cols {
                l.push_str(c);
                l.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
            } else {
                l.push_str(c);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns() {
        let t = render(
            &["ID", "STATUS", "PID"],
            &[
                vec!["web".into(), "running".into(), "1234".into()],
                vec!["a-much-longer-id".into(), "stopped".into(), "-".into()],
            ],
        );
        let expected = "\
ID                STATUS   PID
web               running  1234
a-much-longer-id  stopped  -
";
        assert_eq!(t, expected);
    }

    #[test]
    fn header_only_and_empty_last_cell() {
        assert_eq!(render(&["A", "B"], &[]), "A  B\n");
        assert_eq!(
            render(&["A", "B"], &[vec!["xyz".into(), String::new()]]),
            "A    B\nxyz\n"
        );
    }
}
