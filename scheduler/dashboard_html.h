// The scheduler's web dashboard: one self-contained page (HTML, CSS, inline
// JavaScript and SVG; nothing loaded from elsewhere) served at GET /. It polls
// /status every second and draws the node table, the live training loss and
// speed (from the snapshot's history) and the per-epoch loss and accuracy.
#pragma once

namespace pst {

// NUL-terminated UTF-8 HTML document.
extern const char kDashboardHtml[];

}  // namespace pst
