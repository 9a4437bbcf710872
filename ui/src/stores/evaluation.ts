import type { EvalReportSummary, EvalReportView, EvalRequest, EvalStatus } from '../api/types';
import type { Transport } from '../transport/types';
import type { NoticesStore } from './notices';
import { Store } from './store';

export interface EvaluationState {
  status: EvalStatus;
  reports: EvalReportSummary[];
  /** The report shown: the latest, or the one picked from the list. */
  open: EvalReportView | null;
  /** A refusal of the form's request, by its field (`data`, `shots`…). */
  fieldError: { field: string; message: string } | null;
}

const IDLE: EvalStatus = { state: 'idle', kind: null, title: null, progress: null, report: null, error: null };

/** How often the status is asked for while an evaluation runs. */
export const POLL_MS = 1000;

/** The evaluation view: start a run, follow its progress, read the reports and their charts. */
export class EvaluationStore extends Store<EvaluationState> {
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly transport: Transport,
    private readonly notices: NoticesStore,
  ) {
    super({ status: IDLE, reports: [], open: null, fieldError: null });
  }

  /** Reads the status and the reports, opens the newest, and follows a run already going. */
  async load(): Promise<void> {
    try {
      const [status, reports] = await Promise.all([this.transport.evaluationStatus(), this.transport.listEvalReports()]);
      this.set({ status, reports });
      if (reports[0] && !this.get().open) await this.openReport(reports[0].name);
      if (status.state === 'running') this.poll();
    } catch (e) {
      this.notices.error('Evaluation', e);
    }
  }

  async start(request: EvalRequest): Promise<void> {
    this.set({ fieldError: null });
    try {
      const status = await this.transport.startEvaluation(request);
      this.set({ status });
      this.poll();
    } catch (e) {
      const body = e as { field?: string; message?: string };
      if (body.field) this.set({ fieldError: { field: body.field, message: body.message ?? '' } });
      else this.notices.error('Evaluation', e);
    }
  }

  async stop(): Promise<void> {
    try {
      this.set({ status: await this.transport.stopEvaluation() });
    } catch (e) {
      this.notices.error('Evaluation', e);
    }
  }

  async openReport(name: string): Promise<void> {
    try {
      this.set({ open: await this.transport.getEvalReport(name) });
    } catch (e) {
      this.notices.error('Evaluation report', e);
    }
  }

  /** Stops asking for the status (the view went away). */
  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private poll(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.refresh();
    }, POLL_MS);
  }

  private async refresh(): Promise<void> {
    let status: EvalStatus;
    try {
      status = await this.transport.evaluationStatus();
    } catch (e) {
      this.notices.error('Evaluation', e);
      return;
    }
    this.set({ status });
    if (status.state === 'running') {
      this.poll();
      return;
    }
    if (status.state === 'failed' && status.error) this.notices.error('Evaluation', status.error);
    if (status.state === 'finished') {
      try {
        this.set({ reports: await this.transport.listEvalReports() });
      } catch (e) {
        this.notices.error('Evaluation', e);
      }
      if (status.report) await this.openReport(status.report);
    }
  }
}
