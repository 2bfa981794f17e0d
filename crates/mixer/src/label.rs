//! Name labels on tiles: the participant's name in white on a translucent dark box at the
//! bottom left of the picture, drawn with public-domain 8x8 bitmap glyphs.

use font8x8::legacy::BASIC_LEGACY;
use red5_media::frame::VideoFrame;

use crate::layout::Rect;

/// Label text luma.
pub const TEXT_Y: u8 = 235;

/// Glyph scale for a picture: 1 (8 px) for strip tiles, up to 3 (24 px) for the main region.
pub fn scale_for(area: Rect) -> u32 {
    (area.height / 160).clamp(1, 3)
}

/// The label box for `text` in `area` (`None` when the area is too small for a label).
pub fn label_rect(area: Rect, text: &str) -> Option<(Rect, usize)> {
    let s = scale_for(area);
    let (pad, margin, glyph) = (2 * s, 2 * s, 8 * s);
    let box_h = glyph + 2 * pad;
    if area.height < 2 * box_h || area.width < 4 * glyph {
        return None;
    }
    let room = (area.width - 2 * margin - 2 * pad) / glyph;
    let n = text.chars().count().min(room as usize);
    if n == 0 {
        return None;
    }
    let r = Rect::new(
        area.x + margin,
        area.y + area.height - margin - box_h,
        n as u32 * glyph + 2 * pad,
        box_h,
    )
    .even();
    Some((r, n))
}

/// Draw `text` (truncated with '.' to fit) at the bottom left of `area`.
pub fn draw_label(canvas: &mut VideoFrame, area: Rect, text: &str) {
    let Some((r, n)) = label_rect(area, text) else {
        return;
    };
    let r = r.clip(canvas.width, canvas.height);
    let s = scale_for(area) as usize;
    // Translucent box: darken luma, pull chroma halfway to grey.
    for y in r.y as usize..(r.y + r.height) as usize {
        let row = &mut canvas.y[y * canvas.stride_y..];
        for p in &mut row[r.x as usize..(r.x + r.width) as usize] {
            *p = 16 + (u16::from(p.saturating_sub(16)) * 2 / 5) as u8;
        }
    }
    for cy in (r.y / 2) as usize..((r.y + r.height) / 2) as usize {
        for cx in (r.x / 2) as usize..((r.x + r.width) / 2) as usize {
            for plane in [&mut canvas.u, &mut canvas.v] {
                let c = &mut plane[cy * canvas.stride_uv + cx];
                *c = ((u16::from(*c) + 128) / 2) as u8;
            }
        }
    }
    let total = text.chars().count();
    let (x0, y0) = (r.x as usize + 2 * s, r.y as usize + 2 * s);
    for (i, ch) in text.chars().take(n).enumerate() {
        let ch = if total > n && i == n - 1 { '.' } else { ch };
        let glyph = BASIC_LEGACY[if ch.is_ascii() {
            ch as usize
        } else {
            '?' as usize
        }];
        for (gy, bits) in glyph.iter().enumerate() {
            for gx in 0..8 {
                // Bit 0 is the leftmost pixel.
                if bits & (1 << gx) == 0 {
                    continue;
                }
                for dy in 0..s {
                    let y = y0 + gy * s + dy;
                    let o = y * canvas.stride_y + x0 + (i * 8 + gx) * s;
                    if y < canvas.height as usize
                        && x0 + (i * 8 + gx + 1) * s <= canvas.width as usize
                    {
                        canvas.y[o..o + s].fill(TEXT_Y);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scale::fill_rect;

    #[test]
    fn label_box_text_and_truncation() {
        let mut c = VideoFrame::new(320, 180);
        let area = Rect::new(0, 0, 320, 180);
        fill_rect(&mut c, area, (180, 60, 200));
        draw_label(&mut c, area, "Hi");
        let (r, n) = label_rect(area, "Hi").unwrap();
        assert_eq!((n, r.height), (2, 12));
        assert!(r.y + r.height < 180 && r.x > 0);
        // Box is darker with greyer chroma, with white glyph pixels inside.
        let white = (r.y..r.y + r.height)
            .flat_map(|y| (r.x..r.x + r.width).map(move |x| (x, y)))
            .filter(|&(x, y)| c.y_at(x as usize, y as usize) == TEXT_Y)
            .count();
        assert!(white > 10, "{white} text pixels");
        assert_eq!(c.y_at(r.x as usize, r.y as usize), 16 + (164 * 2 / 5) as u8);
        assert_eq!(c.uv_at(r.x as usize, r.y as usize), (94, 164));
        // Outside the box nothing changed.
        assert_eq!(
            c.y_at(r.x as usize + r.width as usize + 2, r.y as usize),
            180
        );
        // Long names are cut to the width; tiny areas get no label.
        let (r, n) = label_rect(Rect::new(0, 0, 100, 60), "a-very-long-participant-name").unwrap();
        assert!(r.width <= 96 && n < 12, "{r:?} {n}");
        assert!(label_rect(Rect::new(0, 0, 30, 20), "x").is_none());
        assert_eq!(scale_for(Rect::new(0, 0, 960, 540)), 3);
    }
}
