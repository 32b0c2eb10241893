// The throwaway PostgreSQL server lives in service/devtools (the bench and `npm run start:postgres` use it too).
export * from '../../service/devtools/postgres-server';
