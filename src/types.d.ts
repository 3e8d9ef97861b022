/** Text imports of bundled runtime scripts and the gRPC proto (`with { type: "text" }`). */
declare module "*.py" {
  const source: string;
  export default source;
}
declare module "*.proto" {
  const source: string;
  export default source;
}
