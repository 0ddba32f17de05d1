import { useMutation, useQuery } from '@apollo/client/react';
import { type FormEvent, useState } from 'react';
import { Field, FormMessage, formErrors, NO_ERRORS, Picker } from '../form';
import { graphql } from '../gql';
import { type Position, pageWindow } from '../paging';

const PAGE_SIZE = 10;

const UsersQuery = graphql(`
  query Users($filter: UserFilter, $first: Int, $after: String, $last: Int, $before: String) {
    users(filter: $filter, first: $first, after: $after, last: $last, before: $before) {
      totalCount
      edges {
        cursor
        node {
          id
          email
          firstName
          lastName
          enabled
          roles {
            id
            displayName
          }
          groups {
            id
            name
          }
        }
      }
      pageInfo {
        hasNextPage
        hasPreviousPage
        startCursor
        endCursor
      }
    }
  }
`);

const PickersQuery = graphql(`
  query UserPickers {
    roles {
      id
      name
      displayName
      description
    }
    groups {
      id
      name
    }
  }
`);

const CreateUserMutation = graphql(`
  mutation CreateUser($input: CreateUserInput!) {
    createUser(input: $input) {
      user {
        id
        email
      }
    }
  }
`);

/** An administrator's view: the users, searched and paged by cursor, and a form to add one. */
export function UsersPage() {
  return (
    <>
      <UserList />
      <CreateUserForm />
    </>
  );
}

function UserList() {
  const [search, setSearch] = useState('');
  const [position, setPosition] = useState<Position>({});
  const filter = search ? { search } : {};
  const { data, error, loading, fetchMore } = useQuery(UsersQuery, { variables: { filter, first: PAGE_SIZE } });

  const find = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    setSearch(String(new FormData(event.currentTarget).get('search') ?? '').trim());
    setPosition({});
  };

  const users = data?.users;
  const page = users && pageWindow(users.edges, users.pageInfo, position, PAGE_SIZE);
  const next = async () => {
    if (!page?.next) return;
    if (!page.next.fetched) await fetchMore({ variables: { after: page.next.after, first: PAGE_SIZE, before: null, last: null } });
    setPosition({ after: page.next.after });
  };
  const previous = async () => {
    if (!page?.previous) return;
    if (!page.previous.fetched) {
      await fetchMore({ variables: { before: page.previous.before, last: PAGE_SIZE, after: null, first: null } });
    }
    setPosition({ before: page.previous.before });
  };

  return (
    <section aria-labelledby="users-heading">
      <h1 id="users-heading">Users</h1>
      <search>
        <form onSubmit={find}>
          <label htmlFor="user-search">Search users</label> <input id="user-search" name="search" type="search" />{' '}
          <button type="submit">Search</button>
        </form>
      </search>
      {error && <p role="alert">{error.message}</p>}
      {!data && loading && <p>Loading users…</p>}
      {users && page && (
        <>
          <table>
            <caption>
              {users.totalCount} {users.totalCount === 1 ? 'user' : 'users'}
              {search && ` matching “${search}”`}
            </caption>
            <thead>
              <tr>
                <th scope="col">Email</th>
                <th scope="col">Name</th>
                <th scope="col">Roles</th>
                <th scope="col">Groups</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {page.edges.map(({ node: user }) => (
                <tr key={user.id}>
                  <td>{user.email}</td>
                  <td>
                    {user.firstName} {user.lastName}
                  </td>
                  <td>{user.roles.map((role) => role.displayName).join(', ')}</td>
                  <td>{user.groups.map((group) => group.name).join(', ')}</td>
                  <td>{user.enabled ? 'active' : 'disabled'}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <nav aria-label="Pages of users">
            <button type="button" onClick={() => void previous()} disabled={!page.previous}>
              Previous page
            </button>{' '}
            <button type="button" onClick={() => void next()} disabled={!page.next}>
              Next page
            </button>
          </nav>
        </>
      )}
    </section>
  );
}

function CreateUserForm() {
  const pickers = useQuery(PickersQuery);
  const [createUser, { loading }] = useMutation(CreateUserMutation, {
    // The new user belongs in lists already read (each search is its own cache entry): drop them.
    update: (cache) => {
      cache.evict({ id: 'ROOT_QUERY', fieldName: 'users' });
      cache.gc();
    },
  });
  const [errors, setErrors] = useState(NO_ERRORS);
  const [created, setCreated] = useState<string>();

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const formElement = event.currentTarget;
    const form = new FormData(formElement);
    const text = (name: string) => String(form.get(name) ?? '');
    setCreated(undefined);
    try {
      const { data } = await createUser({
        variables: {
          input: {
            email: text('email'),
            firstName: text('firstName'),
            lastName: text('lastName'),
            password: text('password'),
            roleIds: form.getAll('roleIds').map(String),
            groupIds: form.getAll('groupIds').map(String),
          },
        },
      });
      setErrors(NO_ERRORS);
      setCreated(data!.createUser.user.email);
      formElement.reset();
    } catch (error) {
      setErrors(formErrors(error));
    }
  };

  return (
    <section aria-labelledby="new-user-heading">
      <h2 id="new-user-heading">New user</h2>
      {created && <p role="status">Created {created}</p>}
      <form onSubmit={submit} noValidate>
        <FormMessage errors={errors} />
        <Field label="Email" name="email" type="email" autoComplete="off" error={errors.fields.email} />
        <Field label="First name" name="firstName" autoComplete="off" error={errors.fields.firstName} />
        <Field label="Last name" name="lastName" autoComplete="off" error={errors.fields.lastName} />
        <Field label="Password" name="password" type="password" autoComplete="new-password" error={errors.fields.password} />
        <Picker
          legend="Roles"
          name="roleIds"
          options={pickers.data?.roles.map((role) => ({ id: role.id, label: role.displayName, title: role.description ?? undefined }))}
          error={errors.fields.roleIds}
        />
        <Picker
          legend="Groups"
          name="groupIds"
          options={pickers.data?.groups.map((group) => ({ id: group.id, label: group.name }))}
          error={errors.fields.groupIds}
          empty="No groups yet."
        />
        <button type="submit" disabled={loading}>
          Create user
        </button>
      </form>
    </section>
  );
}
