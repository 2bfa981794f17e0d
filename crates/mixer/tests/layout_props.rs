//! Layout invariants for any canvas, participant count and presenter.
#![allow(clippy::unwrap_used)] // tests may unwrap (project rule)

use proptest::prelude::*;
use red5_mixer::{compute_layout, LayoutKind, TileRole};

fn kinds() -> impl Strategy<Value = LayoutKind> {
    prop_oneof![
        Just(LayoutKind::Presenter),
        Just(LayoutKind::Grid),
        Just(LayoutKind::PresenterOnly)
    ]
}

proptest! {
    #[test]
    fn tiles_are_even_inside_disjoint_and_complete(
        w in 16u32..2000,
        h in 16u32..2000,
        n in 0usize..20,
        presenter in 0usize..25,
        kind in kinds(),
    ) {
        let (w, h) = (w & !1, h & !1);
        let ids: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
        let pres = format!("p{presenter}");
        let tiles = compute_layout(w, h, &kind, Some(&pres), &ids);
        for (i, t) in tiles.iter().enumerate() {
            let r = t.rect;
            prop_assert!(r.x % 2 == 0 && r.y % 2 == 0 && r.width % 2 == 0 && r.height % 2 == 0);
            prop_assert!(r.x + r.width <= w && r.y + r.height <= h, "{r:?} outside {w}x{h}");
            prop_assert!(r.width >= 8 && r.height >= 8);
            for u in &tiles[i + 1..] {
                prop_assert!(!r.intersects(&u.rect), "{r:?} overlaps {:?}", u.rect);
                prop_assert!(t.id != u.id);
            }
        }
        if n > 0 && !tiles.is_empty() {
            // Tiny canvases may drop tiles under 8 px; otherwise the presenter (or the first participant when it is absent) is the main tile.
            let expect = if presenter < n { pres.clone() } else { "p0".to_string() };
            prop_assert_eq!(&tiles[0].id, &expect);
            prop_assert_eq!(tiles[0].role, TileRole::Main);
            prop_assert_eq!(tiles.iter().filter(|t| t.role == TileRole::Main).count(), 1);
            let want = if kind == LayoutKind::PresenterOnly { 1 } else { n };
            // Everyone fits on ordinary canvases (tiles of 8+ px).
            if w >= 320 && h >= 180 && n <= 9 {
                prop_assert_eq!(tiles.len(), want);
            }
        } else if n == 0 {
            prop_assert!(tiles.is_empty());
        }
        if n > 0 && w >= 64 && h >= 64 {
            prop_assert!(!tiles.is_empty());
        }
    }
}
