// Compiled with `tsc --strict` against the types generated from the live document (make openapi).
// Correct client code must compile; each `@ts-expect-error` marks a mistake the types must
// refuse: if the mistake ever compiled, the directive itself would be the error.
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/wadah";

type Job = components["schemas"]["JobOut"];
type JobStatus = components["schemas"]["JobStatus"];

const api = createClient<paths>({ baseUrl: "http://127.0.0.1:8000" });

export const FINAL: readonly JobStatus[] = ["succeeded", "failed", "cancelled"];

export function isFinished(job: Job): boolean {
  return FINAL.includes(job.status);
}

export function misspeltStatus(job: Job): boolean {
  // @ts-expect-error "succeded" is not a job status
  return job.status === "succeded";
}

// @ts-expect-error nor is it one in a list of statuses
export const misspeltList: JobStatus[] = ["queued", "succeded"];

export async function walkThrough(email: string, password: string, csv: Blob): Promise<number> {
  await api.POST("/users", { body: { name: "Ayu", email, password } });
  const login = await api.POST("/login", { body: { email, password } });
  if (!login.data) throw new Error(login.error?.message);
  const auth = { headers: { Authorization: `Bearer ${login.data.token}` } };

  const created = await api.POST("/books", { ...auth, body: { title: "T", author: "A", genre: "G", year: 2005 } });
  const bookId: number | undefined = created.data?.data.id;
  const page = await api.GET("/books", { params: { query: { limit: 10, offset: 0 } } });
  const total: number = page.data?.meta.total ?? 0;

  // The body is the file itself; openapi-fetch would JSON-encode it unless told not to.
  const started = await api.POST("/books/import", {
    ...auth,
    body: csv,
    headers: { ...auth.headers, "Content-Type": "text/csv" },
    bodySerializer: (file: Blob) => file,
  });
  const jobId: string = started.data?.data.id ?? "";
  const job = await api.GET("/jobs/{job_id}", { ...auth, params: { path: { job_id: jobId } } });
  if (job.data && job.data.data.status === "succeeded" && job.data.data.result && "inserted" in job.data.data.result) {
    const inserted: number = job.data.data.result.inserted;
    void inserted;
  }
  const running = await api.GET("/jobs", { ...auth, params: { query: { status: "running", kind: "import_books" } } });
  void running;
  const file = await api.GET("/exports/{job_id}/download", {
    ...auth,
    params: { path: { job_id: jobId } },
    parseAs: "blob",
  });
  void file;
  return total + (bookId ?? 0);
}

export async function mistakes(token: string): Promise<void> {
  const auth = { headers: { Authorization: `Bearer ${token}` } };
  // @ts-expect-error the import body is a file, not a number
  await api.POST("/books/import", { ...auth, body: 12345 });
  // @ts-expect-error nor a string of CSV: a file (Blob) it is
  await api.POST("/books/import", { ...auth, body: "title,author,genre,year\n" });
  // @ts-expect-error a misspelt status is no filter either
  await api.GET("/jobs", { ...auth, params: { query: { status: "succeded" } } });
  // @ts-expect-error nor is an unknown kind
  await api.GET("/jobs", { ...auth, params: { query: { kind: "imports" } } });
}
