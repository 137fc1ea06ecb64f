package eval

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/armap/armap/engine/atomicfile"
	"github.com/armap/armap/pipeline/dataset"
)

// PlotSuccess draws the success rate of every method, one bar per environment, as a PNG.
func PlotSuccess(path string, res *Results) error {
	envs := slices.Sorted(maps.Keys(res.Envs))
	if len(envs) == 0 {
		return errors.New("plot: no results")
	}
	// The x axis is the union of the methods, in report order.
	var methods []string
	for _, e := range envs {
		for _, m := range MethodOrder(res.Envs[e]) {
			if !slices.Contains(methods, m) {
				methods = append(methods, m)
			}
		}
	}
	p := plot.New()
	p.Title.Text = "Success rate by method"
	p.Y.Label.Text = "success rate (%)"
	// Headroom above 100% keeps the legend and the value labels off the bars.
	p.Y.Min, p.Y.Max = 0, 125
	p.Y.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "0"}, {Value: 25, Label: "25"},
		{Value: 50, Label: "50"}, {Value: 75, Label: "75"}, {Value: 100, Label: "100"}})
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	width := vg.Points(26)
	for i, e := range envs {
		vals := make(plotter.Values, len(methods))
		var xys plotter.XYs
		var labels []string
		off := float64(i) - float64(len(envs)-1)/2
		for j, m := range methods {
			r, ok := res.Envs[e].Methods[m]
			if !ok {
				continue
			}
			vals[j] = 100 * r.SuccessRate
			xys = append(xys, plotter.XY{X: float64(j), Y: vals[j] + 2})
			labels = append(labels, fmt.Sprintf("%.0f", vals[j]))
		}
		bc, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		bc.LineStyle.Width = 0
		bc.Color = plotutil.Color(i)
		bc.Offset = width * vg.Length(off)
		p.Add(bc)
		p.Legend.Add(e, bc)
		lb, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		for k := range lb.TextStyle {
			lb.TextStyle[k].Font.Size = vg.Points(8)
			lb.TextStyle[k].XAlign = draw.XCenter
		}
		lb.Offset = vg.Point{X: width * vg.Length(off)}
		p.Add(lb)
	}
	p.NominalX(methods...)
	w := 110 + float64(len(methods))*(26*float64(len(envs))+30)
	wt, err := p.WriterTo(vg.Points(max(w, 360)), vg.Points(320), "png")
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error { _, err := wt.WriteTo(w); return err })
}

// metricLine is what the training plot reads of a metrics.jsonl line.
type metricLine struct {
	Type     string   `json:"type"`
	Step     *int     `json:"step"`
	Loss     *float64 `json:"loss"`
	Accuracy *float64 `json:"accuracy"`
}

// trainMetrics are the series PlotTraining draws.
type trainMetrics struct{ trLoss, trAcc, evLoss, evAcc plotter.XYs }

// readTrainMetrics reads a training run's metrics.jsonl: what PlotTraining draws, and what eval
// checks before it plans.
func readTrainMetrics(metrics string) (*trainMetrics, error) {
	f, err := os.Open(metrics)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tm := &trainMetrics{}
	err = dataset.ScanJSONL(f, metrics, func(line int, m *metricLine) error {
		if m.Type != "train" && m.Type != "eval" {
			return nil // summaries and other records
		}
		if m.Step == nil {
			return &dataset.LineError{Field: "step", Err: errors.New("missing")}
		}
		x := float64(*m.Step)
		if m.Type == "train" {
			if m.Loss != nil {
				tm.trLoss = append(tm.trLoss, plotter.XY{X: x, Y: *m.Loss})
			}
			if m.Accuracy != nil {
				tm.trAcc = append(tm.trAcc, plotter.XY{X: x, Y: *m.Accuracy})
			}
			return nil
		}
		if m.Loss != nil {
			tm.evLoss = append(tm.evLoss, plotter.XY{X: x, Y: *m.Loss})
		}
		if m.Accuracy != nil {
			tm.evAcc = append(tm.evAcc, plotter.XY{X: x, Y: *m.Accuracy})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(tm.trLoss)+len(tm.evLoss) == 0 {
		return nil, fmt.Errorf("%s: no train or eval lines with a loss", metrics)
	}
	return tm, nil
}

// PlotTraining draws a training run's loss (top) and pairwise accuracy (bottom) over optimizer
// steps from its metrics.jsonl: "train" lines as lines, "eval" lines as points joined by lines.
func PlotTraining(path, metrics string) error {
	tm, err := readTrainMetrics(metrics)
	if err != nil {
		return err
	}
	trLoss, trAcc, evLoss, evAcc := tm.trLoss, tm.trAcc, tm.evLoss, tm.evAcc
	panel := func(title, ylabel string, train, eval plotter.XYs) (*plot.Plot, error) {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "optimizer step"
		p.X.Tick.Marker = wholeTicks{}
		p.Y.Label.Text = ylabel
		p.Legend.Top = true
		p.Add(plotter.NewGrid())
		for i, s := range []struct {
			name string
			xy   plotter.XYs
		}{{"train", train}, {"eval", eval}} {
			if len(s.xy) == 0 {
				continue
			}
			l, pts, err := plotter.NewLinePoints(s.xy)
			if err != nil {
				return nil, err
			}
			l.Color = plotutil.Color(i)
			pts.Color = plotutil.Color(i)
			if s.name == "train" {
				pts.Radius = 0 // many points: the line says it all
			} else {
				pts.Shape = draw.CircleGlyph{}
				pts.Radius = vg.Points(2.5)
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
			}
			p.Add(l, pts)
			p.Legend.Add(s.name, l, pts)
		}
		return p, nil
	}
	lossP, err := panel("Reward model training: pairwise loss", "loss", trLoss, evLoss)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	accP, err := panel("Pairwise accuracy (chosen scored above rejected)", "accuracy", trAcc, evAcc)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	accP.Y.Min, accP.Y.Max = 0, 1
	img := vgimg.New(vg.Points(560), vg.Points(560))
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8)}
	cs := plot.Align([][]*plot.Plot{{lossP}, {accP}}, tiles, dc)
	lossP.Draw(cs[0][0])
	accP.Draw(cs[1][0])
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
		return err
	})
}

// wholeTicks labels an axis of step numbers as whole numbers ("25", not "25.00").
type wholeTicks struct{}

func (wholeTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', -1, 64)
		}
	}
	return ts
}
