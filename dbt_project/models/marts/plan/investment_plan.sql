{{ config(materialized='table', tags=['plan']) }}
-- One row per addition of a verified investment plan (spec §6): which school (or which section of it) gets what, in
-- the item's own unit, and at what cost. Only plans the official models confirmed are in planner.plan_additions.

select
    cast(a.county_code as varchar) as county_code,
    cast(a.year as integer) as year,
    cast(a.target_year as integer) as target_year,
    cast(a.school_code as varchar) as school_code,
    cast(d.school_name as varchar) as school_name,
    cast(d.school_type as varchar) as school_type,
    cast(a.level as varchar) as level,
    cast(a.resource as varchar) as resource,
    cast(i.name_zh as varchar) as item_name_zh,
    cast(i.unit_zh as varchar) as unit_zh,
    cast(a.amount as double) as amount,
    cast(a.unit_cost as double) as unit_cost,
    cast(a.cost as double) as cost,
    cast({{ cfg("c", "cost_kind") }} as varchar) as cost_kind,
    cast(i.sort_order as integer) as item_order
from {{ source('planner', 'plan_additions') }} a
join {{ ref('plan_items') }} i using (resource)
left join {{ ref('dim_school_year') }} d on d.school_code = a.school_code and d.year = a.year
{{ cfg_join('unit_costs', 'c', 'left(a.county_code, 2)', {'resource': 'a.resource'}) }}
