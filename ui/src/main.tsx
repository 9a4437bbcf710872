import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './components/App';
import { AppProvider } from './context';
import { pickHost } from './host';
import { createApp } from './stores';
import { applyTheme, loadTheme } from './theme';
import { pickTransport } from './transport';
import './styles.css';

async function start(): Promise<void> {
  applyTheme(loadTheme());
  const [transport, host] = await Promise.all([pickTransport(), pickHost()]);
  const app = createApp(transport, host);
  const root = document.getElementById('root');
  if (!root) throw new Error('no #root element');
  createRoot(root).render(
    <StrictMode>
      <AppProvider app={app}>
        <App />
      </AppProvider>
    </StrictMode>,
  );
}

void start();
