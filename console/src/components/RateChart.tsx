/**
 * A small time-series line chart (uPlot: ~50 KB, canvas, fast with thousands of points). The
 * latest values are also written out as text, for screen readers and for people who'd rather read.
 */
import { For, createEffect, onCleanup, onMount } from 'solid-js';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  /** One value per timestamp; null where there is no sample. */
  values: (number | null)[];
}

const COLORS = ['#1f6feb', '#d97706', '#059669', '#db2777', '#7c3aed', '#0891b2', '#65a30d', '#dc2626'];

export default function RateChart(props: { title: string; unit: string; t: number[]; series: ChartSeries[]; height?: number }) {
  let host!: HTMLDivElement;
  let plot: uPlot | undefined;
  const latest = () => props.series.map((s) => ({ label: s.label, value: [...s.values].reverse().find((v) => v !== null) ?? null }));

  const build = () => {
    plot?.destroy();
    const opts: uPlot.Options = {
      width: Math.max(200, host.clientWidth),
      height: props.height ?? 180,
      scales: { x: { time: true } },
      legend: { show: true },
      axes: [{}, { label: props.unit, size: 56 }],
      series: [{}, ...props.series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: false }))],
    };
    // uPlot wants seconds on a time axis.
    plot = new uPlot(opts, [props.t.map((ms) => ms / 1000), ...props.series.map((s) => s.values)] as uPlot.AlignedData, host);
  };

  onMount(() => {
    const ro = new ResizeObserver(() => plot?.setSize({ width: Math.max(200, host.clientWidth), height: props.height ?? 180 }));
    ro.observe(host);
    onCleanup(() => ro.disconnect());
  });
  // New series (labels) need a new plot; new points only new data.
  let shape = '';
  createEffect(() => {
    const nextShape = props.series.map((s) => s.label).join('\u0000');
    if (!plot || nextShape !== shape) {
      shape = nextShape;
      build();
    } else {
      plot.setData([props.t.map((ms) => ms / 1000), ...props.series.map((s) => s.values)] as uPlot.AlignedData);
    }
  });
  onCleanup(() => plot?.destroy());

  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <div ref={host} class="chart-canvas" role="img" aria-label={`${props.title}, last hour`} />
      <p class="sr-only">
        Latest: <For each={latest()}>{(l) => <>{l.label} {l.value ?? 'no data'} {props.unit}; </>}</For>
      </p>
    </figure>
  );
}
