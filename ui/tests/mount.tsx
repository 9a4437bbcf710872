import { act, fireEvent, render, screen } from '@testing-library/react';
import { App } from '../src/components/App';
import { AppProvider } from '../src/context';
import { createApp } from '../src/stores';
import { FakeTransport, fakeHost, flush } from './fakes';

/** Renders the whole app over a fake transport, as a user first sees it; `tab` opens that tab. */
export async function mountApp(transport = new FakeTransport(), tab?: string) {
  const host = fakeHost();
  const app = createApp(transport, host);
  render(
    <AppProvider app={app}>
      <App />
    </AppProvider>,
  );
  await act(flush);
  if (tab) {
    fireEvent.click(screen.getByTestId(`tab-${tab}`));
    await act(flush);
  }
  return { transport, app, host };
}
