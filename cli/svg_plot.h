// A small self-contained SVG line chart for the run directory's plots
// (loss.svg, accuracy.svg, throughput.svg). Pure functions on plain values;
// thread-compatible.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace pst {

struct PlotSeries {
  std::string name;                               // shown in the legend
  std::string color = "#1f77b4";                  // any SVG colour
  std::vector<std::pair<double, double>> points;  // (x, y); NaN/inf points are skipped
  // Draw only a marker per point (no line). Default: false (a line, plus
  // markers when there are few points).
  bool markers_only = false;
};

struct LinePlot {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<PlotSeries> series;
  // Start the y axis at 0 when every value is >= 0. Default: false.
  bool y_from_zero = false;
  // Start the x axis at 0 when every x is >= 0 (time axes). Default: false.
  bool x_from_zero = false;
  // x values are whole numbers (epochs): ticks at integers only. Default: false.
  bool x_integer = false;
  int width = 720;   // pixels
  int height = 400;  // pixels
};

// The plot as a complete SVG document: axes with a few round tick values,
// one <polyline> per series with two or more finite points (a <circle> per
// point for markers), and a legend. Never fails: with no finite points it
// draws empty axes and "no data"; a constant series gets a small y range.
std::string RenderSvg(const LinePlot& plot);

// Round tick values covering [lo, hi]: about `target` of them, at steps of
// 1, 2 or 5 times a power of ten. REQUIRES: lo <= hi, both finite.
// With min_step > 0 the step is at least min_step.
std::vector<double> NiceTicks(double lo, double hi, int target = 5, double min_step = 0);

}  // namespace pst
