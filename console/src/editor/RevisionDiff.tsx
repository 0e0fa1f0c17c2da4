import { createEffect, onCleanup } from 'solid-js';
import { createDiffView } from './create-editor.ts';

export interface RevisionDiffProps {
  a: string;
  b: string;
  aLabel: string;
  bLabel: string;
  class?: string;
}

/** Side-by-side, read-only diff of two config texts (two revisions), rebuilt when either changes. */
export default function RevisionDiff(props: RevisionDiffProps) {
  let host!: HTMLDivElement;
  let diff: { destroy(): void } | undefined;

  createEffect(() => {
    const opts = { a: props.a, b: props.b, aLabel: props.aLabel, bLabel: props.bLabel };
    diff?.destroy();
    diff = createDiffView(host, opts);
  });
  onCleanup(() => diff?.destroy());

  return <div ref={host} class={props.class} data-testid="revision-diff" />;
}
