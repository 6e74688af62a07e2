#include "cli/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include <fmt/format.h>

namespace pst {
namespace {

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A tick label without trailing zeros: 0.25, 1000, 1.5e+06.
std::string TickLabel(double v, double step) {
  if (std::abs(v) < step * 1e-9) v = 0;
  const double mag = std::max(std::abs(v), step);
  if (mag >= 1e6 || mag < 1e-4) return fmt::format("{:.3g}", v);
  const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  return fmt::format("{:.{}f}", v, decimals);
}

bool Finite(const std::pair<double, double>& p) {
  return std::isfinite(p.first) && std::isfinite(p.second);
}

}  // namespace

std::vector<double> NiceTicks(double lo, double hi, int target, double min_step) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / std::max(1, target);
  const double pow10 = std::pow(10.0, std::floor(std::log10(raw)));
  double step = pow10;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * pow10;
    if (step >= raw) break;
  }
  if (min_step > 0 && step < min_step) step = min_step;
  std::vector<double> ticks;
  const double first = std::ceil(lo / step - 1e-9);
  for (int i = 0; i < 50; ++i) {
    const double t = (first + i) * step;
    if (t > hi + step * 1e-9) break;
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

std::string RenderSvg(const LinePlot& plot) {
  const double w = plot.width, h = plot.height;
  const double left = 70, right = 20, top = 40, bottom = 55;
  const double pw = w - left - right, ph = h - top - bottom;

  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin;
  double ymin = xmin, ymax = -xmin;
  size_t finite = 0;
  for (const PlotSeries& s : plot.series)
    for (const auto& p : s.points) {
      if (!Finite(p)) continue;
      ++finite;
      xmin = std::min(xmin, p.first);
      xmax = std::max(xmax, p.first);
      ymin = std::min(ymin, p.second);
      ymax = std::max(ymax, p.second);
    }
  if (finite == 0) {
    xmin = 0, xmax = 1, ymin = 0, ymax = 1;
  }
  if (plot.y_from_zero && ymin >= 0) ymin = 0;
  if (plot.x_from_zero && xmin >= 0) xmin = 0;
  // Give degenerate ranges some room, then round them out to tick values.
  auto widen = [](double& lo, double& hi) {
    if (hi - lo <= std::abs(hi) * 1e-12) {
      const double pad = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
      lo -= pad;
      hi += pad;
    }
  };
  if (plot.x_integer && xmax - xmin < 2) {  // one or two epochs: a little room around them
    xmin -= 0.5;
    xmax += 0.5;
  }
  widen(xmin, xmax);
  widen(ymin, ymax);
  // Ticks, with the range rounded out to the first and last tick (integer x
  // axes keep their range: their ends are not tick values).
  auto round_out = [](std::vector<double>& ticks, double& lo, double& hi) {
    if (ticks.size() < 2) return;
    const double step = ticks[1] - ticks[0];
    if (ticks.front() > lo + step * 1e-9) ticks.insert(ticks.begin(), ticks.front() - step);
    if (ticks.back() < hi - step * 1e-9) ticks.push_back(ticks.back() + step);
    lo = ticks.front();
    hi = ticks.back();
  };
  std::vector<double> yticks = NiceTicks(ymin, ymax, 5);
  round_out(yticks, ymin, ymax);
  std::vector<double> xticks = NiceTicks(xmin, xmax, 6, plot.x_integer ? 1.0 : 0.0);
  if (!plot.x_integer) round_out(xticks, xmin, xmax);
  const double xstep = xticks.size() >= 2 ? xticks[1] - xticks[0] : (xmax - xmin);
  const double ystep = yticks.size() >= 2 ? yticks[1] - yticks[0] : (ymax - ymin);

  auto X = [&](double x) { return left + (x - xmin) / (xmax - xmin) * pw; };
  auto Y = [&](double y) { return top + ph - (y - ymin) / (ymax - ymin) * ph; };

  std::string svg = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} "
      "{1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect x=\"0\" y=\"0\" width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" "
      "font-weight=\"bold\">{3}</text>\n",
      plot.width, plot.height, left + pw / 2, Escape(plot.title));
  // Grid and ticks.
  svg += "<g stroke=\"#e0e0e0\" stroke-width=\"1\">\n";
  for (double t : yticks)
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\"/>\n", left,
                       Y(t), left + pw, Y(t));
  for (double t : xticks)
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\"/>\n", X(t),
                       top, X(t), top + ph);
  svg += "</g>\n<g fill=\"#333\">\n";
  for (double t : yticks)
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", left - 6,
                       Y(t) + 4, TickLabel(t, ystep));
  for (double t : xticks)
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", X(t),
                       top + ph + 17, TickLabel(t, xstep));
  svg += "</g>\n";
  // Axes and their labels.
  svg += fmt::format(
      "<path d=\"M {0:.1f} {1:.1f} V {2:.1f} H {3:.1f}\" fill=\"none\" stroke=\"#333\" "
      "stroke-width=\"1\"/>\n",
      left, top, top + ph, left + pw);
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n",
                     left + pw / 2, h - 12, Escape(plot.x_label));
  svg += fmt::format(
      "<text x=\"16\" y=\"{0:.1f}\" text-anchor=\"middle\" transform=\"rotate(-90 16 "
      "{0:.1f})\">{1}</text>\n",
      top + ph / 2, Escape(plot.y_label));
  if (finite == 0)
    svg += fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" fill=\"#999\">no data</text>\n",
        left + pw / 2, top + ph / 2);
  // Series.
  for (const PlotSeries& s : plot.series) {
    std::vector<std::pair<double, double>> pts;
    for (const auto& p : s.points)
      if (Finite(p)) pts.push_back(p);
    svg += fmt::format("<g class=\"series\" data-name=\"{}\">\n", Escape(s.name));
    if (!s.markers_only && pts.size() >= 2) {
      svg += fmt::format(
          "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" stroke-linejoin=\"round\" "
          "points=\"",
          Escape(s.color));
      for (size_t i = 0; i < pts.size(); ++i)
        svg += fmt::format("{}{:.1f},{:.1f}", i ? " " : "", X(pts[i].first), Y(pts[i].second));
      svg += "\"/>\n";
    }
    if (s.markers_only || pts.size() <= 30)
      for (const auto& p : pts)
        svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"{}\" fill=\"{}\"/>\n",
                           X(p.first), Y(p.second), s.markers_only ? 4 : 2.5, Escape(s.color));
    svg += "</g>\n";
  }
  // Legend, top right inside the plot area.
  if (!plot.series.empty()) {
    size_t longest = 0;
    for (const PlotSeries& s : plot.series) longest = std::max(longest, s.name.size());
    const double lw = 36 + 7.0 * longest, lh = 8 + 18.0 * plot.series.size();
    // The corner of the plot area that hides the least data (top right on ties).
    const double corners[4][2] = {{left + pw - lw - 8, top + 8},
                                  {left + pw - lw - 8, top + ph - lh - 8},
                                  {left + 8, top + 8},
                                  {left + 8, top + ph - lh - 8}};
    size_t best = 0, best_hits = SIZE_MAX;
    for (size_t c = 0; c < 4; ++c) {
      size_t hits = 0;
      auto count = [&](double px, double py) {
        hits += px >= corners[c][0] && px <= corners[c][0] + lw && py >= corners[c][1] &&
                py <= corners[c][1] + lh;
      };
      for (const PlotSeries& s : plot.series) {
        std::vector<std::pair<double, double>> pts;
        for (const auto& p : s.points)
          if (Finite(p)) pts.emplace_back(X(p.first), Y(p.second));
        for (size_t i = 0; i < pts.size(); ++i) {
          count(pts[i].first, pts[i].second);
          if (i == 0 || s.markers_only) continue;
          for (int k = 1; k < 16; ++k) {  // points along the segment
            const double f = k / 16.0;
            count(pts[i - 1].first + f * (pts[i].first - pts[i - 1].first),
                  pts[i - 1].second + f * (pts[i].second - pts[i - 1].second));
          }
        }
      }
      if (hits < best_hits) best_hits = hits, best = c;
    }
    const double lx = corners[best][0], ly = corners[best][1];
    svg += fmt::format(
        "<g class=\"legend\">\n<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
        "fill=\"white\" "
        "fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n",
        lx, ly, lw, lh);
    for (size_t i = 0; i < plot.series.size(); ++i) {
      const PlotSeries& s = plot.series[i];
      const double cy = ly + 13 + 18.0 * i;
      if (s.markers_only)
        svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"{}\"/>\n", lx + 17,
                           cy, Escape(s.color));
      else
        svg += fmt::format(
            "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" "
            "stroke-width=\"2\"/>\n",
            lx + 8, cy, lx + 26, cy, Escape(s.color));
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n", lx + 32, cy + 4,
                         Escape(s.name));
    }
    svg += "</g>\n";
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace pst
