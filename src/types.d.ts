/** Text imports of bundled runtime scripts (`with { type: "text" }`). */
declare module "*.py" {
  const source: string;
  export default source;
}
