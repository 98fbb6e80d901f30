use super::*;
use crate::format::xml_escape as xml;

#[test]
fn xml_escapes_markup_and_control_characters() {
    assert_eq!(xml("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;?");
}

#[test]
fn markdown_cells_cannot_break_the_table() {
    assert_eq!(md_cell("a|b\nc"), "a\\|b c");
    assert_eq!(md_code("x`y"), "x'y");
}
