import { useState } from 'react';
import { applyTheme, loadTheme, nextTheme, type ThemeChoice } from '../theme';

const LABEL: Record<ThemeChoice, string> = { system: 'Theme: system', light: 'Theme: light', dark: 'Theme: dark' };

export function ThemeToggle() {
  const [theme, setTheme] = useState<ThemeChoice>(loadTheme);
  const toggle = () => {
    const next = nextTheme(theme);
    applyTheme(next);
    setTheme(next);
  };
  return (
    <button type="button" className="ghost" data-testid="theme-toggle" onClick={toggle} title="Switch between system, light and dark">
      {LABEL[theme]}
    </button>
  );
}
