// The harness lives in packages/harness (@batcher/harness); tests import it from here.
export * from '@batcher/harness/dist/temporal';
