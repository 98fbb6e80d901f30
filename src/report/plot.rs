//! Plots (SVG) and the offline index.html of a report folder.
