//! SVG charts for the report pages (plotters, SVG backend only).
