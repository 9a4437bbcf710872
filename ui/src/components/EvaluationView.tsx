import { useEffect, useState, type FormEvent } from 'react';
import type { EvalRequest, EvalStatus } from '../api/types';
import { useApp } from '../context';
import { useStore } from '../stores/store';
import { Markdown } from './Markdown';

type Kind = 'mmlu' | 'kmmlu' | 'qa';

/** Start an evaluation (MMLU/KMMLU accuracy, or answers with and without retrieval), follow it, read its reports. */
export function EvaluationView() {
  const { evaluation } = useApp();
  const { status, reports, open, fieldError } = useStore(evaluation);

  useEffect(() => {
    void evaluation.load();
    return () => evaluation.dispose();
  }, [evaluation]);

  return (
    <section className="evaluation" aria-label="Evaluation">
      <EvaluationForm running={status.state === 'running'} fieldError={fieldError} />
      <EvaluationStatusLine status={status} />
      <div className="evaluation-reports">
        <ol className="report-list" data-testid="eval-reports">
          {reports.length === 0 && <li className="muted small">No reports yet.</li>}
          {reports.map((r) => (
            <li key={r.name}>
              <button
                type="button"
                className="report-item"
                data-testid="eval-report-item"
                data-name={r.name}
                aria-current={open?.name === r.name ? 'true' : undefined}
                onClick={() => void evaluation.openReport(r.name)}
              >
                <span className="report-title">{r.title}</span>
                <span className="muted small">
                  {r.headline} · {r.finished_at}
                </span>
              </button>
            </li>
          ))}
        </ol>
        {open && (
          <article className="report" data-testid="eval-report" data-name={open.name}>
            <img className="report-chart" data-testid="eval-chart" alt={`Chart of ${open.name}`} src={svgUrl(open.svg)} />
            <Markdown text={withoutChartLink(open.markdown)} testId="eval-markdown" />
          </article>
        )}
      </div>
    </section>
  );
}

function EvaluationForm({ running, fieldError }: { running: boolean; fieldError: { field: string; message: string } | null }) {
  const { evaluation } = useApp();
  const [kind, setKind] = useState<Kind>('mmlu');
  const [data, setData] = useState('');
  const [shots, setShots] = useState(5);
  const [subjects, setSubjects] = useState('');
  const [limit, setLimit] = useState('');
  const [set, setSet] = useState('');

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const n = limit.trim() === '' ? null : Number(limit);
    const request: EvalRequest =
      kind === 'qa'
        ? { kind: 'qa', set: set.trim() || null, limit: n }
        : {
            kind: 'mcq',
            format: kind,
            data: data.trim(),
            shots,
            subjects: subjects
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean),
            limit: n,
          };
    void evaluation.start(request);
  };
  const error = (field: string) =>
    fieldError?.field === field ? (
      <small className="field-error" data-testid="field-error" data-field={field} role="alert">
        {fieldError.message}
      </small>
    ) : null;

  return (
    <form className="evaluation-form" data-testid="eval-form" onSubmit={submit}>
      <label>
        Evaluate
        <select value={kind} data-testid="eval-kind" onChange={(e) => setKind(e.target.value as Kind)}>
          <option value="mmlu">MMLU (multiple choice)</option>
          <option value="kmmlu">KMMLU (multiple choice, Korean)</option>
          <option value="qa">Answers with and without retrieval</option>
        </select>
      </label>
      {kind === 'qa' ? (
        <label>
          Question set (JSONL; empty: the built-in "after the cutoff" set)
          <input value={set} data-testid="eval-set" placeholder="/abs/path/set.jsonl" onChange={(e) => setSet(e.target.value)} />
          {error('set')}
        </label>
      ) : (
        <>
          <label>
            Data folder (with dev/ and test/)
            <input value={data} data-testid="eval-data" placeholder="/abs/path/mmlu" onChange={(e) => setData(e.target.value)} />
            {error('data')}
          </label>
          <label>
            Examples (shots)
            <input type="number" min={0} max={25} value={shots} data-testid="eval-shots" onChange={(e) => setShots(Number(e.target.value))} />
            {error('shots')}
          </label>
          <label>
            Subjects (comma-separated; empty: all)
            <input value={subjects} data-testid="eval-subjects" onChange={(e) => setSubjects(e.target.value)} />
            {error('subjects')}
          </label>
        </>
      )}
      <label>
        Questions {kind === 'qa' ? '' : 'per subject '}(empty: all)
        <input type="number" min={1} value={limit} data-testid="eval-limit" onChange={(e) => setLimit(e.target.value)} />
        {error('limit')}
      </label>
      <div className="form-actions">
        <button type="submit" disabled={running} data-testid="eval-start">
          Start
        </button>
        {running && (
          <button type="button" data-testid="eval-stop" onClick={() => void evaluation.stop()}>
            Stop
          </button>
        )}
      </div>
    </form>
  );
}

function EvaluationStatusLine({ status }: { status: EvalStatus }) {
  if (status.state === 'idle') return null;
  const p = status.progress;
  return (
    <div className="progress" data-testid="eval-progress" data-state={status.state}>
      <div className="progress-line">
        <span>{status.title}</span>
        <span className="muted small">
          {label(status)}
          {p && ` · ${p.done}/${p.total} · ${p.stage}`}
          {p && status.state === 'running' && ` · ${timeLeft(p.seconds_left)}`}
        </span>
      </div>
      {status.state === 'running' && (
        <progress max={p?.total || undefined} value={p ? p.done : undefined} aria-label="Evaluation progress" />
      )}
      {status.error && (
        <p className="answer-error" role="alert" data-testid="eval-error">
          {status.error.message}
        </p>
      )}
    </div>
  );
}

function label(status: EvalStatus): string {
  switch (status.state) {
    case 'running':
      return 'running';
    case 'finished':
      return 'finished';
    case 'stopped':
      return 'stopped (start it again to resume)';
    case 'failed':
      return 'failed';
    default:
      return '';
  }
}

export function timeLeft(seconds: number | null): string {
  if (seconds === null) return 'estimating time left';
  const s = Math.round(seconds);
  if (s < 60) return `about ${s} s left`;
  const m = Math.round(s / 60);
  return m < 60 ? `about ${m} min left` : `about ${Math.floor(m / 60)} h ${m % 60} min left`;
}

/** The chart as an image: SVG in an <img> runs no script, and `data:` is within the CSP. */
function svgUrl(svg: string): string {
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}

/** The Markdown links its chart by file name; the view shows the chart itself above it. */
function withoutChartLink(markdown: string): string {
  return markdown.replace(/^!\[chart\]\([^)]*\)\n+/m, '');
}
