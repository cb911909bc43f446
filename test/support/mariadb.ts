// The harness lives in harness/; tests import it from here.
export * from '../../harness/src/mariadb';
