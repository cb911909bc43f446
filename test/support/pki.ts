// Throwaway certificates (openssl): the harness's, re-exported for the tests.
export * from '../../harness/src/pki';
