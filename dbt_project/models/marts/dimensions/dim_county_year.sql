{{ config(materialized='table', tags=['trend']) }}
-- One row per county and year with data (census or county return): the county's name as of that year. The census
-- and the return may leave county_name empty (an optional column); the name is then the one of the nearest earlier
-- year with a name, else of the nearest later one (name_basis says which), so every year has a name when any year
-- has one. Province and prefecture are the first two and four digits of the code.

with census_names as (
    select county_code, year, county_name, count(*) as n
    from {{ ref('stg_census_schools') }}
    group by county_code, year, county_name
),

census as (
    -- the year's school count and the most frequent name on its school rows (ties: the smallest)
    select county_code, year, sum(n) as schools,
           first(county_name order by n desc, county_name) filter (where county_name is not null) as census_name
    from census_names
    group by county_code, year
),

returns as (
    select county_code, year, min(county_name) as return_name
    from {{ ref('stg_county_returns') }}
    group by county_code, year
),

years as (
    select
        coalesce(c.county_code, r.county_code) as county_code,
        coalesce(c.year, r.year) as year,
        c.county_code is not null as in_census,
        r.county_code is not null as in_returns,
        coalesce(c.schools, 0) as schools,
        coalesce(c.census_name, r.return_name) as submitted_name
    from census c
    full outer join returns r using (county_code, year)
),

carried as (
    select
        *,
        last_value(submitted_name ignore nulls) over (
            partition by county_code order by year rows between unbounded preceding and 1 preceding) as earlier_name,
        first_value(submitted_name ignore nulls) over (
            partition by county_code order by year rows between 1 following and unbounded following) as later_name
    from years
)

select
    cast(county_code as varchar) as county_code,
    cast(year as integer) as year,
    cast(left(county_code, 2) as varchar) as province_code,
    cast(left(county_code, 4) as varchar) as prefecture_code,
    cast(coalesce(submitted_name, earlier_name, later_name) as varchar) as county_name,
    cast(submitted_name as varchar) as county_name_submitted,
    cast(case
        when submitted_name is not null then 'submitted'
        when earlier_name is not null then 'earlier_year'
        when later_name is not null then 'later_year'
    end as varchar) as name_basis,
    cast(in_census as boolean) as in_census,
    cast(in_returns as boolean) as in_returns,
    cast(schools as integer) as schools
from carried
