import { useSyncExternalStore } from 'react';

/** A minimal observable state container: the stores hold the app's state, React only renders it. */
export class Store<S> {
  private state: S;
  private readonly listeners = new Set<() => void>();

  constructor(initial: S) {
    this.state = initial;
  }

  get = (): S => this.state;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  protected set(patch: Partial<S> | ((s: S) => Partial<S>)): void {
    const next = typeof patch === 'function' ? patch(this.state) : patch;
    this.state = { ...this.state, ...next };
    for (const listener of this.listeners) listener();
  }
}

/** Subscribes a component to a store (or to one slice of it). */
export function useStore<S>(store: Store<S>): S;
export function useStore<S, T>(store: Store<S>, select: (s: S) => T): T;
export function useStore<S, T>(store: Store<S>, select?: (s: S) => T): S | T {
  const get: () => S | T = select ? () => select(store.get()) : store.get;
  return useSyncExternalStore<S | T>(store.subscribe, get, get);
}
