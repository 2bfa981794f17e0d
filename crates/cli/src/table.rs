//! Plain-text tables with columns padded to the widest cell (no colours: output is often piped).

pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let last = i + 1 == cells.len();
            s.push_str(c);
            if !last {
                s.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out += &line(r.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn pads_columns() {
        let t = super::render(
            &["A", "NAME"],
            &[
                vec!["*".into(), "Built-in".into()],
                vec!["".into(), "x".into()],
            ],
        );
        assert_eq!(t, "A  NAME\n*  Built-in\n   x\n");
    }
}
