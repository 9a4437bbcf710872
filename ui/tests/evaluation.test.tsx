import { act, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { timeLeft } from '../src/components/EvaluationView';
import { POLL_MS } from '../src/stores/evaluation';
import { FakeTransport, flush } from './fakes';
import { mountApp } from './mount';

const SVG = '<svg xmlns="http://www.w3.org/2000/svg"><text>accuracy</text></svg>';

function view(name: string, headline: string) {
  return {
    name,
    report: { kind: 'mcq' as const, accuracy: 0.3 },
    markdown: `# MMLU 5-shot\n\n![chart](${name}.svg)\n\n${headline}\n`,
    svg: SVG,
  };
}

async function mount(transport: FakeTransport) {
  const { app } = await mountApp(transport, 'evaluation');
  await act(flush);
  return app;
}

afterEach(() => vi.useRealTimers());

describe('the evaluation view', () => {
  it('lists past reports and shows the latest chart and page', async () => {
    const transport = new FakeTransport();
    transport.evalReports = [
      { name: 'new', kind: 'mcq', title: 'MMLU 5-shot', headline: 'accuracy 0.3000', finished_at: '2026-12-05T12:00:00Z' },
      { name: 'old', kind: 'qa', title: 'QA', headline: 'F1 0.2', finished_at: '2026-12-04T12:00:00Z' },
    ];
    transport.evalViews = { new: view('new', 'Accuracy **0.3000**'), old: view('old', 'F1 table') };
    await mount(transport);
    const items = screen.getAllByTestId('eval-report-item');
    expect(items.map((i) => i.dataset.name)).toEqual(['new', 'old']);
    expect(screen.getByTestId('eval-report').dataset.name).toBe('new');
    const chart = screen.getByTestId('eval-chart') as HTMLImageElement;
    expect(chart.src.startsWith('data:image/svg+xml')).toBe(true);
    expect(decodeURIComponent(chart.src)).toContain('<text>accuracy</text>');
    const page = screen.getByTestId('eval-markdown');
    expect(page.innerHTML).toContain('<strong>0.3000</strong>');
    expect(page.innerHTML).not.toContain('new.svg');
    fireEvent.click(items[1]!);
    await act(flush);
    expect(screen.getByTestId('eval-report').dataset.name).toBe('old');
  });

  it('starts a run, shows its progress and time left, then opens its report', async () => {
    const transport = new FakeTransport();
    const app = await mount(transport);
    vi.useFakeTimers();
    fireEvent.change(screen.getByTestId('eval-data'), { target: { value: '/data/mmlu' } });
    fireEvent.change(screen.getByTestId('eval-subjects'), { target: { value: 'anatomy, marketing' } });
    fireEvent.change(screen.getByTestId('eval-limit'), { target: { value: '40' } });
    fireEvent.submit(screen.getByTestId('eval-form'));
    await act(async () => {
      await Promise.resolve();
      await Promise.resolve();
    });
    expect(transport.callsOf('startEvaluation')).toEqual([
      [{ kind: 'mcq', format: 'mmlu', data: '/data/mmlu', shots: 5, subjects: ['anatomy', 'marketing'], limit: 40 }],
    ]);
    expect(screen.getByTestId('eval-progress').dataset.state).toBe('running');
    expect((screen.getByTestId('eval-start') as HTMLButtonElement).disabled).toBe(true);

    transport.evalStatus = {
      ...transport.evalStatus,
      progress: { done: 12, total: 80, stage: 'anatomy', elapsed_s: 6, seconds_left: 34 },
    };
    await act(async () => {
      await vi.advanceTimersByTimeAsync(POLL_MS);
    });
    expect(screen.getByTestId('eval-progress').textContent).toContain('12/80 · anatomy · about 34 s left');

    transport.evalStatus = { ...transport.evalStatus, state: 'finished', report: 'run1' };
    transport.evalReports = [{ name: 'run1', kind: 'mcq', title: 'MMLU 5-shot', headline: 'accuracy 0.3', finished_at: '' }];
    transport.evalViews = { run1: view('run1', 'done') };
    await act(async () => {
      await vi.advanceTimersByTimeAsync(POLL_MS);
    });
    expect(screen.getByTestId('eval-progress').dataset.state).toBe('finished');
    expect(screen.getByTestId('eval-report').dataset.name).toBe('run1');
    const polls = transport.callsOf('evaluationStatus').length;
    await act(async () => {
      await vi.advanceTimersByTimeAsync(POLL_MS * 3);
    });
    expect(transport.callsOf('evaluationStatus').length).toBe(polls);
    expect(app.evaluation.get().status.state).toBe('finished');
  });

  it('shows a refusal beside its field, and a failed run as an error', async () => {
    const transport = new FakeTransport();
    transport.fail.startEvaluation = { code: 'invalid_argument', message: 'data: "x" is not an absolute path', field: 'data' };
    await mount(transport);
    fireEvent.submit(screen.getByTestId('eval-form'));
    await act(flush);
    const error = screen.getByTestId('field-error');
    expect(error.dataset.field).toBe('data');
    expect(error.textContent).toContain('not an absolute path');

    fireEvent.change(screen.getByTestId('eval-kind'), { target: { value: 'qa' } });
    expect(screen.queryByTestId('eval-data')).toBeNull();
    expect(within(screen.getByTestId('eval-form')).getByTestId('eval-set')).toBeTruthy();
  });

  it('says how long is left in words a person reads', () => {
    expect(timeLeft(null)).toBe('estimating time left');
    expect(timeLeft(42.4)).toBe('about 42 s left');
    expect(timeLeft(600)).toBe('about 10 min left');
    expect(timeLeft(7500)).toBe('about 2 h 5 min left');
  });
});
