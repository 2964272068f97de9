// How names compare: two names that look the same are one name. Case folds (in JavaScript: SQLite's lower() only
// knows ASCII) and invisible characters (zero-width spaces and joiners, word joiners, variation selectors: Unicode's
// default-ignorable code points) do not count, so `deploy`, `Deploy` and `de\u200Bploy` collide.

export function nameKey(name: string): string {
  return name.replace(/\p{Default_Ignorable_Code_Point}/gu, '').toLowerCase();
}
